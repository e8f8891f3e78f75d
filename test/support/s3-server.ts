/**
 * A real S3 server for tests: s3rver (a Node S3 server on a temp directory) behind a thin front
 * that adds the two behaviours Strata relies on and s3rver lacks (see /work/shared/FACTS.md):
 *
 * - `GET /<bucket>?uploads` (ListMultipartUploads) answers an empty list instead of 501, so
 *   clients that look for an upload to resume before a multipart upload work.
 * - `GET /<bucket>?list-type=2` (ListObjectsV2) lists in byte order of the keys, as S3 does
 *   (s3rver lists in its directory-walk order: `a/b` before `a-b`), honours `encoding-type=url`,
 *   and pages with a continuation token.
 * - A PUT, copy (PUT with x-amz-copy-source) or CompleteMultipartUpload carrying
 *   `If-None-Match: *` on an existing key answers `412 PreconditionFailed`, as AWS S3 and MinIO
 *   do. Such requests are serialised per key, so the check and the write are atomic, as on a
 *   real server: two racing create-only writers cannot both win.
 *
 *   const s3 = await startS3Server();
 *   const store = await openStore(s3.url('strata-test', 'run-1'));
 *   …
 *   await s3.stop();
 */
import { randomBytes } from 'node:crypto';
import { createReadStream } from 'node:fs';
import fs from 'node:fs/promises';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { createRequire } from 'node:module';
import os from 'node:os';
import path from 'node:path';
import type { Readable } from 'node:stream';

export interface S3TestServer {
  /** `http://127.0.0.1:<port>` */
  endpoint: string;
  /** A store URL for `bucket` (≥ 3 chars) under `prefix`, credentials included. */
  url(bucket: string, prefix?: string): string;
  accessKey: string;
  secretKey: string;
  /** The directory s3rver keeps its buckets in. */
  directory: string;
  stop(): Promise<void>;
}

/** The parts of s3rver 3.7 used here (it ships no types). */
interface S3rverApp {
  callback(): (req: http.IncomingMessage, res: http.ServerResponse) => void;
  store: {
    existsObject(bucket: string, key: string): Promise<boolean>;
    getBucket(bucket: string): Promise<unknown>;
    listObjects(
      bucket: string,
      options: { prefix?: string; maxKeys?: number },
    ): Promise<{ objects: S3rverObject[] }>;
    getObject(
      bucket: string,
      key: string,
      options?: { start?: number; end?: number },
    ): Promise<(S3rverObject & { content: Readable | null; range?: unknown }) | null>;
    getResourcePath(bucket: string, key: string, resource: string): string;
  };
  logger?: { close(): void };
}
interface S3rverObject {
  key: string;
  size: number;
  lastModifiedDate: Date;
  metadata: Record<string, string>;
}
type S3rverCtor = new (options: Record<string, unknown>) => S3rverApp;

// s3rver accepts exactly this key pair (its built-in dummy account).
const ACCESS_KEY = 'S3RVER';
const SECRET_KEY = 'S3RVER';

export async function startS3Server(): Promise<S3TestServer> {
  const S3rver = createRequire(import.meta.url)('s3rver') as S3rverCtor;
  const directory = await fs.mkdtemp(path.join(os.tmpdir(), 'strata-s3-'));
  const app = new S3rver({ directory, silent: true, vhostBuckets: false });
  fixFirstByteRange(app);
  const delegate = app.callback();
  const locks = new KeyLocks();

  const route = async (req: http.IncomingMessage, res: http.ServerResponse): Promise<void> => {
    const url = new URL(req.url ?? '/', 'http://localhost');
    const [bucket = '', ...rest] = url.pathname.slice(1).split('/');
    const key = decodeURIComponent(rest.join('/'));
    const query = url.searchParams;

    if (req.method === 'GET' && bucket && !key && query.has('uploads')) {
      if (!(await app.store.getBucket(bucket)))
        return sendError(
          req,
          res,
          404,
          'NoSuchBucket',
          'The specified bucket does not exist',
          `/${bucket}`,
        );
      return sendXml(res, 200, emptyUploadList(bucket, query.get('prefix') ?? ''));
    }

    if (req.method === 'GET' && bucket && !key && query.get('list-type') === '2') {
      if (!(await app.store.getBucket(bucket)))
        return sendError(
          req,
          res,
          404,
          'NoSuchBucket',
          'The specified bucket does not exist',
          `/${bucket}`,
        );
      return sendXml(res, 200, await listObjectsV2(app, bucket, query));
    }

    const isCreateOnly =
      req.headers['if-none-match'] === '*' &&
      bucket !== '' &&
      key !== '' &&
      ((req.method === 'PUT' && [...query.keys()].length === 0) ||
        (req.method === 'POST' && query.has('uploadId')));
    if (!isCreateOnly) return delegate(req, res);

    const release = await locks.acquire(`${bucket}/${key}`);
    res.once('close', release);
    if (await app.store.existsObject(bucket, key)) {
      return sendError(
        req,
        res,
        412,
        'PreconditionFailed',
        'At least one of the pre-conditions you specified did not hold',
        `/${bucket}/${key}`,
        '<Condition>If-None-Match</Condition>',
      );
    }
    delegate(req, res);
  };

  const server = http.createServer((req, res) => {
    route(req, res).catch((err: unknown) => {
      if (!res.headersSent)
        sendError(
          req,
          res,
          500,
          'InternalError',
          String((err as Error)?.message ?? err),
          req.url ?? '/',
        );
      else res.destroy();
    });
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => resolve());
  });
  const endpoint = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;

  return {
    endpoint,
    accessKey: ACCESS_KEY,
    secretKey: SECRET_KEY,
    directory,
    url(bucket: string, prefix = '') {
      const params = new URLSearchParams({
        endpoint,
        region: 'us-east-1',
        accessKey: ACCESS_KEY,
        secretKey: SECRET_KEY,
      });
      return `s3://${bucket}/${prefix}?${params}`;
    },
    async stop() {
      await new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      });
      app.logger?.close();
      await fs.rm(directory, { recursive: true, force: true });
    },
  };
}

/**
 * s3rver reads a range's end as `end || Infinity`, so `Range: bytes=0-0` got the whole object
 * instead of its first byte.
 */
function fixFirstByteRange(app: S3rverApp): void {
  const store = app.store;
  const getObject = store.getObject.bind(store);
  store.getObject = async (bucket, key, options) => {
    if (options?.start !== 0 || options.end !== 0) return getObject(bucket, key, options);
    const object = await getObject(bucket, key, { start: 0 });
    if (object?.content && object.size > 0) {
      object.content.destroy();
      object.content = createReadStream(store.getResourcePath(bucket, key, 'object'), {
        start: 0,
        end: 0,
      });
      object.range = { start: 0, end: 0 };
    }
    return object;
  };
}

/** One holder per key at a time; waiters are served in arrival order. */
class KeyLocks {
  private readonly tails = new Map<string, Promise<void>>();

  async acquire(key: string): Promise<() => void> {
    const previous = this.tails.get(key) ?? Promise.resolve();
    let release!: () => void;
    const mine = new Promise<void>((resolve) => (release = resolve));
    const tail = previous.then(() => mine);
    this.tails.set(key, tail);
    await previous;
    let released = false;
    return () => {
      if (released) return;
      released = true;
      release();
      if (this.tails.get(key) === tail) this.tails.delete(key);
    };
  }
}

/** ListObjectsV2 over s3rver's store, in byte order of the keys. */
async function listObjectsV2(
  app: S3rverApp,
  bucket: string,
  query: URLSearchParams,
): Promise<string> {
  const prefix = query.get('prefix') ?? '';
  const delimiter = query.get('delimiter') ?? '';
  const maxKeys = Math.min(Number(query.get('max-keys') ?? 1000), 1000);
  const encode =
    query.get('encoding-type') === 'url'
      ? (k: string) => encodeURIComponent(k).replace(/%2F/g, '/')
      : (k: string) => k;
  const token = query.get('continuation-token');
  const after = Buffer.from(
    token ? Buffer.from(token, 'base64url').toString() : (query.get('start-after') ?? ''),
  );
  const { objects } = await app.store.listObjects(bucket, { prefix, maxKeys: Infinity });
  const sorted = objects
    .map((o) => ({ o, k: Buffer.from(o.key) }))
    .sort((a, b) => Buffer.compare(a.k, b.k));
  const contents: string[] = [];
  const prefixes: string[] = [];
  let last = '';
  let truncated = false;
  for (const { o, k } of sorted) {
    if (Buffer.compare(k, after) <= 0) continue;
    const cut = delimiter ? o.key.indexOf(delimiter, prefix.length) : -1;
    const common = cut >= 0 ? o.key.slice(0, cut + delimiter.length) : undefined;
    if (common !== undefined && common === prefixes[prefixes.length - 1]) continue;
    if (contents.length + prefixes.length === maxKeys) {
      truncated = true;
      break;
    }
    if (common !== undefined) {
      prefixes.push(common);
      last = `${common}\u{10FFFF}`; // resume after every key under the common prefix
    } else {
      contents.push(
        `<Contents><Key>${escapeXml(encode(o.key))}</Key><LastModified>${o.lastModifiedDate.toISOString()}</LastModified>` +
          `<ETag>${escapeXml(o.metadata.etag ?? '')}</ETag><Size>${o.size}</Size><StorageClass>STANDARD</StorageClass></Contents>`,
      );
      last = o.key;
    }
  }
  return (
    '<ListBucketResult xmlns="http://s3.amazonaws.com/doc/2006-03-01/">' +
    `<Name>${escapeXml(bucket)}</Name><Prefix>${escapeXml(encode(prefix))}</Prefix><KeyCount>${contents.length + prefixes.length}</KeyCount>` +
    `<MaxKeys>${maxKeys}</MaxKeys><Delimiter>${escapeXml(encode(delimiter))}</Delimiter><IsTruncated>${truncated}</IsTruncated>` +
    (truncated
      ? `<NextContinuationToken>${Buffer.from(last).toString('base64url')}</NextContinuationToken>`
      : '') +
    contents.join('') +
    prefixes
      .map((p) => `<CommonPrefixes><Prefix>${escapeXml(encode(p))}</Prefix></CommonPrefixes>`)
      .join('') +
    '</ListBucketResult>'
  );
}

function emptyUploadList(bucket: string, prefix: string): string {
  return (
    '<ListMultipartUploadsResult xmlns="http://s3.amazonaws.com/doc/2006-03-01/">' +
    `<Bucket>${escapeXml(bucket)}</Bucket><KeyMarker></KeyMarker><UploadIdMarker></UploadIdMarker>` +
    `<Prefix>${escapeXml(prefix)}</Prefix><MaxUploads>1000</MaxUploads>` +
    '</ListMultipartUploadsResult>'
  ); // IsTruncated left out: minio-js reads a present "false" as truthy and would loop
}

function sendError(
  req: http.IncomingMessage,
  res: http.ServerResponse,
  status: number,
  code: string,
  message: string,
  resource: string,
  extra = '',
): void {
  req.resume(); // discard any body still arriving so the connection stays usable
  const requestId = randomBytes(8).toString('hex').toUpperCase();
  res.setHeader('x-amz-request-id', requestId);
  sendXml(
    res,
    status,
    `<Error><Code>${code}</Code><Message>${escapeXml(message)}</Message>${extra}<Resource>${escapeXml(resource)}</Resource><RequestId>${requestId}</RequestId></Error>`,
  );
}

function sendXml(res: http.ServerResponse, status: number, body: string): void {
  const xml = `<?xml version="1.0" encoding="UTF-8"?>\n${body}`;
  res.writeHead(status, {
    'content-type': 'application/xml',
    'content-length': Buffer.byteLength(xml),
  });
  res.end(xml);
}

function escapeXml(s: string): string {
  return s.replace(/[<>&'"]/g, (c) => `&#${c.charCodeAt(0)};`);
}
