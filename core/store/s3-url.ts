/**
 * Parses an S3 store URL into what the minio client needs, and the same URL with secrets removed.
 *
 *   parseS3Url('s3://strata/prod?endpoint=http://127.0.0.1:9000&accessKey=k&secretKey=s');
 *   // { bucket: 'strata', prefix: 'prod/', endPoint: '127.0.0.1', port: 9000, useSSL: false,
 *   //   region: 'us-east-1', accessKey: 'k', secretKey: 's',
 *   //   publicUrl: 's3://strata/prod/?endpoint=http%3A%2F%2F127.0.0.1%3A9000&region=us-east-1' }
 *
 * Without `endpoint` the store talks to AWS S3 in `region`. Unknown parameters are refused, so a
 * misspelt `endpiont=` fails loudly instead of silently writing to AWS.
 */
import { StrataError } from '../errors.ts';

export interface S3Location {
  bucket: string;
  /** '' or ends with '/'. Every store key is stored as prefix + key. */
  prefix: string;
  endPoint: string;
  port: number;
  useSSL: boolean;
  region: string;
  accessKey?: string;
  secretKey?: string;
  /** The URL without accessKey/secretKey, safe to log. */
  publicUrl: string;
}

const KNOWN_PARAMS = new Set(['endpoint', 'region', 'accessKey', 'secretKey']);
const BUCKET = /^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$/;
const FORM = 's3://bucket/prefix?endpoint=http://host:port';

export function parseS3Url(url: string): S3Location {
  const bad = (why: string) =>
    new StrataError(
      'STRATA_E_STORE_URL',
      `store URL ${JSON.stringify(redactUrl(url))} is invalid: ${why}; use ${FORM}`,
      { details: { url: redactUrl(url) } },
    );
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch {
    throw bad('it is not a URL');
  }
  if (parsed.protocol !== 's3:') throw bad('it is not an s3: URL');
  if (parsed.username || parsed.password || parsed.port)
    throw bad(
      'put credentials in ?accessKey=&secretKey= (or STRATA_S3_ACCESS_KEY/STRATA_S3_SECRET_KEY), not in the host part',
    );
  const bucket = parsed.hostname;
  if (!BUCKET.test(bucket) || bucket.includes('..'))
    throw bad(`bucket ${JSON.stringify(bucket)} is not 3-63 lowercase letters, digits, '.' or '-'`);
  for (const name of parsed.searchParams.keys()) {
    if (!KNOWN_PARAMS.has(name))
      throw bad(
        `unknown parameter ${JSON.stringify(name)} (known: ${[...KNOWN_PARAMS].join(', ')})`,
      );
  }
  const p = parsed.searchParams;
  const rawPrefix = decodeURIComponent(parsed.pathname).replace(/^\/+/, '');
  const prefix = rawPrefix === '' || rawPrefix.endsWith('/') ? rawPrefix : `${rawPrefix}/`;
  if (
    prefix
      .split('/')
      .slice(0, -1)
      .some((s) => s === '' || s === '.' || s === '..')
  )
    throw bad(`prefix ${JSON.stringify(rawPrefix)} has an empty, '.' or '..' segment`);
  const region = p.get('region') || 'us-east-1';
  const endpoint = p.get('endpoint') || `https://s3.${region}.amazonaws.com`;
  let ep: URL;
  try {
    ep = new URL(endpoint);
  } catch {
    throw bad(`endpoint ${JSON.stringify(endpoint)} is not a URL such as http://127.0.0.1:9000`);
  }
  if (ep.protocol !== 'http:' && ep.protocol !== 'https:')
    throw bad(`endpoint ${endpoint} is not http: or https:`);
  if (ep.pathname !== '/' || ep.search || ep.username)
    throw bad(`endpoint ${endpoint} must be just scheme://host:port`);
  const useSSL = ep.protocol === 'https:';
  const publicParams = new URLSearchParams({ endpoint: ep.origin, region });
  return {
    bucket,
    prefix,
    endPoint: ep.hostname.replace(/^\[(.*)\]$/, '$1'),
    port: ep.port ? Number(ep.port) : useSSL ? 443 : 80,
    useSSL,
    region,
    accessKey: p.get('accessKey') ?? undefined,
    secretKey: p.get('secretKey') ?? undefined,
    publicUrl: `s3://${bucket}/${encodeURI(prefix)}?${publicParams}`,
  };
}

/** Hides secretKey/accessKey values in any URL-ish string before it goes into a message or log. */
export function redactUrl(url: string): string {
  return String(url).replace(/([?&](?:secretKey|accessKey)=)[^&#]*/gi, '$1***');
}
