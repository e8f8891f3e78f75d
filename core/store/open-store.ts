/**
 * Opens the object store a URL names: `file:///abs/dir` (the embedded default) or
 * `s3://bucket/prefix?endpoint=http://host:port` (MinIO, AWS S3, any S3-compatible server).
 *
 *   const store = await openStore('file:///tmp/strata');
 *   const store = await openStoreFromConfig(loadConfig());   // config.store + S3 credentials
 *   try { … } finally { await store.close(); }
 */
import type { StrataConfig } from '../config.ts';
import { StrataError } from '../errors.ts';
import { FileStore } from './file-store.ts';
import { redactUrl } from './s3-url.ts';
import type { ObjectStore } from './store.ts';

export interface OpenStoreOptions {
  /** S3 access key, used when the URL has no `accessKey` parameter. */
  accessKey?: string;
  /** S3 secret key, used when the URL has no `secretKey` parameter. */
  secretKey?: string;
}

export async function openStore(url: string, options: OpenStoreOptions = {}): Promise<ObjectStore> {
  const scheme = /^([a-z][a-z0-9+.-]*):/i.exec(url)?.[1]?.toLowerCase();
  if (scheme === 'file') return FileStore.open(url);
  // Loaded only for S3: the client and its XML parsers are ~20 MiB a process on the file store
  // needs not.
  if (scheme === 's3') return (await import('./s3-store.ts')).S3Store.open(url, options);
  throw new StrataError(
    'STRATA_E_STORE_URL',
    `store URL ${JSON.stringify(redactUrl(url))} is not supported; use file:///absolute/dir or s3://bucket/prefix?endpoint=http://host:port`,
    { details: { url: redactUrl(url) } },
  );
}

/**
 * Opens `config.store` with the S3 credentials of the configuration
 * (STRATA_S3_ACCESS_KEY/…_SECRET_KEY).
 */
export function openStoreFromConfig(
  config: Pick<StrataConfig, 'store' | 's3AccessKey' | 's3SecretKey'>,
): Promise<ObjectStore> {
  return openStore(config.store, {
    accessKey: config.s3AccessKey || undefined,
    secretKey: config.s3SecretKey || undefined,
  });
}
