/**
 * Turns what the minio client throws into Strata's store errors, each naming the endpoint or key
 * and what to check.
 *
 *   try { await client.statObject(bucket, name); }
 *   catch (err) { throw s3Error(err, { op: 'stat', key, endpoint, bucket }); }
 *
 * Network failures and refused credentials become STRATA_E_STORE_UNAVAILABLE (the first retryable,
 * the second not: retrying a wrong secret never helps), a missing key STRATA_E_STORE_NOT_FOUND and
 * a
 * failed `If-None-Match: *` precondition STRATA_E_STORE_EXISTS.
 */
import { StrataError } from '../errors.ts';

export interface S3ErrorContext {
  op: string;
  key?: string;
  endpoint: string;
  bucket: string;
}

const NETWORK_CODES = new Set([
  'ECONNREFUSED',
  'ECONNRESET',
  'ENOTFOUND',
  'EAI_AGAIN',
  'ETIMEDOUT',
  'EHOSTUNREACH',
  'ENETUNREACH',
  'EPIPE',
  'ECONNABORTED',
  'UND_ERR_SOCKET',
  'ERR_SSL_WRONG_VERSION_NUMBER',
  'EPROTO',
]);
const CREDENTIAL_CODES = new Set([
  'InvalidAccessKeyId',
  'SignatureDoesNotMatch',
  'AccessDenied',
  'InvalidToken',
  'ExpiredToken',
  'AnonymousRequestError',
]);

export function s3Error(err: unknown, ctx: S3ErrorContext): StrataError {
  if (err instanceof StrataError) return err;
  const e = err as { code?: string; message?: string; name?: string } | undefined;
  const code = e?.code ?? e?.name ?? '';
  const message = e?.message ?? String(err);
  const subject = ctx.key === undefined ? `bucket ${ctx.bucket}` : ctx.key;
  const details = {
    op: ctx.op,
    endpoint: ctx.endpoint,
    bucket: ctx.bucket,
    ...(ctx.key === undefined ? {} : { key: ctx.key }),
    s3Code: code,
  };
  const make = (
    strataCode: ConstructorParameters<typeof StrataError>[0],
    text: string,
    retryable?: boolean,
  ) =>
    new StrataError(strataCode, text, {
      cause: err,
      details,
      ...(retryable === undefined ? {} : { retryable }),
    });

  if (NETWORK_CODES.has(code)) {
    return make(
      'STRATA_E_STORE_UNAVAILABLE',
      `S3 endpoint ${ctx.endpoint} could not be reached during ${ctx.op} of ${subject} (${code}: ${message}); check that the S3 server is running and that ?endpoint= in the store URL names it`,
    );
  }
  if (CREDENTIAL_CODES.has(code)) {
    return make(
      'STRATA_E_STORE_UNAVAILABLE',
      `S3 endpoint ${ctx.endpoint} refused ${ctx.op} of ${subject} (${code}); check the access key and secret key (STRATA_S3_ACCESS_KEY/STRATA_S3_SECRET_KEY or ?accessKey=&secretKey=) and the bucket policy`,
      false,
    );
  }
  if (/Retryable HTTP status|Retries exhausted/.test(message)) {
    return make(
      'STRATA_E_STORE_UNAVAILABLE',
      `S3 endpoint ${ctx.endpoint} kept failing ${ctx.op} of ${subject} (${message}); check the S3 server's health and logs`,
    );
  }
  switch (code) {
    case 'NoSuchKey':
    case 'NotFound':
      return make(
        'STRATA_E_STORE_NOT_FOUND',
        `no object at ${ctx.key ?? '(no key)'} in s3://${ctx.bucket}`,
      );
    case 'NoSuchBucket':
      return make(
        'STRATA_E_STORE_UNAVAILABLE',
        `bucket ${ctx.bucket} does not exist at ${ctx.endpoint} (${ctx.op} of ${subject}); it is created when the store opens, so check whether it was deleted`,
        false,
      );
    case 'PreconditionFailed':
      return make(
        'STRATA_E_STORE_EXISTS',
        `${ctx.key} already exists and is create-only; write under a new key (or pass { overwrite: true } for a pointer)`,
      );
    case 'ConditionalRequestConflict':
      return make(
        'STRATA_E_STORE_IO',
        `another write to ${ctx.key} was in flight at the same time; retry the ${ctx.op}`,
      );
    case 'InvalidBucketNameError':
    case 'InvalidEndpointError':
    case 'InvalidArgumentError':
      return make(
        'STRATA_E_STORE_URL',
        `the S3 client rejected the store settings (${message}); check the store URL`,
      );
    default:
      return make(
        'STRATA_E_STORE_IO',
        `${ctx.op} of ${subject} at S3 endpoint ${ctx.endpoint} failed: ${code ? `${code}: ` : ''}${message}`,
      );
  }
}

/** True when minio reports a missing object (HEAD answers a bare 404, GET a NoSuchKey document). */
export function isS3NotFound(err: unknown): boolean {
  const code = (err as { code?: string } | undefined)?.code;
  return code === 'NoSuchKey' || code === 'NotFound';
}
