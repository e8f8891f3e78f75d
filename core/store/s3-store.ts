/**
 * The S3 store (`s3://bucket/prefix?endpoint=http://host:port&region=…`): MinIO in production,
 * AWS S3 or any S3-compatible server, through the `minio` client.
 *
 *   const store = await S3Store.open('s3://strata/prod?endpoint=http://127.0.0.1:9000', { accessKey, secretKey });
 *   await store.put('code/ab12.mjs', bundle);          // create-only: If-None-Match: * on the server
 *   const head = await store.get('code/ab12.mjs', { start: 0, end: 64 });
 *
 * Credentials come from `?accessKey=&secretKey=` in the URL (they win, being the more specific) or
 * the open options (STRATA_S3_ACCESS_KEY/STRATA_S3_SECRET_KEY); `url` never shows them. The
 * bucket is created on open if missing. Create-only writes are enforced by the server (see
 * s3-upload.ts); copy sends the same precondition. Every request has a connect timeout and a
 * timeout for its answer (s3-transport.ts), so a dead endpoint fails in seconds rather than
 * hanging;
 * a 5xx answer is retried twice by the client before it counts as a failure.
 */
import { createWriteStream } from 'node:fs';
import { rm } from 'node:fs/promises';
import http from 'node:http';
import https from 'node:https';
import { pipeline } from 'node:stream/promises';
import { Client, CopyDestinationOptions, CopySourceOptions } from 'minio';
import { StrataError } from '../errors.ts';
import type { ByteRange, ObjectInfo, ObjectStore, PutBody, PutOptions } from './store.ts';
import {
  assertDeletable,
  assertKey,
  assertOverwritable,
  assertPrefix,
  assertRange,
} from './store-rules.ts';
import { isS3NotFound, s3Error } from './s3-errors.ts';
import { timedTransport } from './s3-transport.ts';
import { parseS3Url, type S3Location } from './s3-url.ts';
import { uploadObject } from './s3-upload.ts';
import { watchBody } from './body-watch.ts';

export interface S3StoreOptions {
  accessKey?: string;
  secretKey?: string;
  /**
   * Bytes per multipart part and the largest single PutObject; default 16 MiB (objects up to ~160
   * GB).
   */
  partSize?: number;
  /** Parts uploaded at once per put; default 2. */
  partConcurrency?: number;
  /** Milliseconds to establish a connection; default 5000. */
  connectTimeoutMs?: number;
  /** Milliseconds a request may wait for its response headers; default 120000. */
  idleTimeoutMs?: number;
}

const DEFAULT_PART_SIZE = 16 * 1024 * 1024;

export class S3Store implements ObjectStore {
  readonly url: string;
  private readonly endpoint: string;

  private constructor(
    private readonly client: Client,
    private readonly agent: http.Agent,
    private readonly loc: S3Location,
    private readonly partSize: number,
    private readonly partConcurrency: number,
  ) {
    this.url = loc.publicUrl;
    this.endpoint = `${loc.useSSL ? 'https' : 'http'}://${loc.endPoint.includes(':') ? `[${loc.endPoint}]` : loc.endPoint}:${loc.port}`;
  }

  static async open(url: string, options: S3StoreOptions = {}): Promise<S3Store> {
    const loc = parseS3Url(url);
    const accessKey = loc.accessKey || options.accessKey || undefined;
    const secretKey = loc.secretKey || options.secretKey || undefined;
    const partSize = options.partSize ?? DEFAULT_PART_SIZE;
    if (partSize < 5 * 1024 * 1024)
      throw new StrataError(
        'STRATA_E_CONFIG',
        `S3 part size ${partSize} is below S3's minimum of 5 MiB (5242880 bytes)`,
      );
    const agent = loc.useSSL
      ? new https.Agent({ keepAlive: true, maxSockets: 32 })
      : new http.Agent({ keepAlive: true, maxSockets: 32 });
    let client: Client;
    try {
      client = new Client({
        endPoint: loc.endPoint,
        port: loc.port,
        useSSL: loc.useSSL,
        region: loc.region, // known, so the client never asks the server for the bucket's location
        ...(accessKey && secretKey ? { accessKey, secretKey } : {}),
        transport: timedTransport({
          useSSL: loc.useSSL,
          connectTimeoutMs: options.connectTimeoutMs ?? 5_000,
          idleTimeoutMs: options.idleTimeoutMs ?? 120_000,
        }),
        transportAgent: agent,
        retryOptions: { maximumRetryCount: 2, baseDelayMs: 200, maximumDelayMs: 2_000 },
      });
    } catch (err) {
      agent.destroy();
      throw new StrataError(
        'STRATA_E_STORE_URL',
        `the S3 client rejected ${loc.publicUrl}: ${(err as Error).message}`,
        { cause: err },
      );
    }
    const store = new S3Store(client, agent, loc, partSize, options.partConcurrency ?? 2);
    try {
      await store.ensureBucket();
    } catch (err) {
      agent.destroy();
      throw err;
    }
    return store;
  }

  async put(key: string, body: PutBody, options: PutOptions = {}): Promise<ObjectInfo> {
    assertKey(key);
    const overwrite = options.overwrite === true;
    if (overwrite) assertOverwritable(key);
    const objectName = this.loc.prefix + key;
    let size: number;
    const watched = watchBody(body);
    try {
      size = await uploadObject(
        {
          client: this.client,
          bucket: this.loc.bucket,
          objectName,
          partSize: this.partSize,
          concurrency: this.partConcurrency,
          createOnly: !overwrite,
          beforeMultipart: overwrite ? undefined : () => this.assertAbsent(key),
        },
        watched.source,
      );
    } catch (err) {
      if (watched.failure) throw watched.failure.error;
      throw this.error(err, 'put', key);
    }
    // S3 answers a put without a time, so this is the writer's clock; stat gives the server's, in
    // whole seconds.
    return { key, size, modified: Date.now() };
  }

  async get(key: string, range?: ByteRange): Promise<Uint8Array> {
    const stream = await this.open(key, range);
    const chunks: Buffer[] = [];
    let total = 0;
    try {
      for await (const chunk of stream) {
        chunks.push(chunk as Buffer);
        total += (chunk as Buffer).length;
      }
    } catch (err) {
      throw this.error(err, 'get', key);
    }
    // Not Buffer.concat: a small result would share Node's pool, and callers may transfer the
    // ArrayBuffer.
    const out = Buffer.allocUnsafeSlow(total);
    let off = 0;
    for (const c of chunks) off += c.copy(out, off);
    return out;
  }

  async getStream(key: string, range?: ByteRange): Promise<AsyncIterable<Uint8Array>> {
    const stream = await this.open(key, range);
    const fail = (err: unknown) => this.error(err, 'get', key);
    return (async function* () {
      try {
        yield* stream;
      } catch (err) {
        throw fail(err);
      }
    })();
  }

  async stat(key: string): Promise<ObjectInfo | undefined> {
    assertKey(key);
    try {
      const st = await this.client.statObject(this.loc.bucket, this.loc.prefix + key);
      return { key, size: st.size, modified: st.lastModified.getTime() };
    } catch (err) {
      if (isS3NotFound(err)) return undefined;
      throw this.error(err, 'stat', key);
    }
  }

  async *list(prefix: string): AsyncIterable<ObjectInfo> {
    assertPrefix(prefix);
    const cut = this.loc.prefix.length;
    try {
      for await (const item of this.client.listObjectsV2(
        this.loc.bucket,
        this.loc.prefix + prefix,
        true,
      )) {
        const key = item.name?.slice(cut);
        if (!key || key.endsWith('/')) continue; // a folder marker some S3 tools create, not an object of ours
        yield { key, size: item.size, modified: item.lastModified.getTime() };
      }
    } catch (err) {
      throw this.error(err, 'list', prefix);
    }
  }

  async download(key: string, file: string): Promise<ObjectInfo> {
    // Size and time first: an absent key fails before a file is created, and a delete that
    // lands after the GET (retention, say) does not fail a copy already whole.
    const info = await this.stat(key);
    if (!info)
      throw new StrataError(
        'STRATA_E_STORE_NOT_FOUND',
        `no object at ${key} in s3://${this.loc.bucket}`,
        { details: { key } },
      );
    const stream = await this.open(key, undefined);
    const out = createWriteStream(file);
    let writeFailed = false;
    out.once('error', () => (writeFailed = true));
    try {
      await pipeline(stream, out);
    } catch (err) {
      await rm(file, { force: true });
      // A failed write of the local file is a local error, not the S3 server's.
      if (writeFailed)
        throw new StrataError(
          'STRATA_E_STORE_IO',
          `download of ${key} to ${file} failed writing the local file: ${(err as Error).message}`,
          { cause: err, details: { key, file } },
        );
      throw this.error(err, 'download', key);
    }
    return info;
  }

  async copy(fromKey: string, toKey: string): Promise<ObjectInfo> {
    assertKey(fromKey, 'source key');
    assertKey(toKey, 'target key');
    // The precondition header is the guard; this HEAD only gives a clear error on servers that
    // ignore it on CopyObject.
    await this.assertAbsent(toKey);
    try {
      await this.client.copyObject(
        new CopySourceOptions({ Bucket: this.loc.bucket, Object: this.loc.prefix + fromKey }),
        new CopyDestinationOptions({
          Bucket: this.loc.bucket,
          Object: this.loc.prefix + toKey,
          Headers: { 'If-None-Match': '*' },
        }),
      );
    } catch (err) {
      throw this.error(err, 'copy', isS3NotFound(err) ? fromKey : toKey);
    }
    const info = await this.stat(toKey);
    if (!info)
      throw new StrataError(
        'STRATA_E_STORE_IO',
        `copy of ${fromKey} to ${toKey} succeeded but ${toKey} is not visible; check the S3 server's consistency`,
      );
    return info;
  }

  async delete(key: string): Promise<void> {
    assertKey(key);
    assertDeletable(key);
    try {
      await this.client.removeObject(this.loc.bucket, this.loc.prefix + key);
    } catch (err) {
      if (isS3NotFound(err)) return;
      throw this.error(err, 'delete', key);
    }
  }

  async close(): Promise<void> {
    this.agent.destroy();
  }

  private async ensureBucket(): Promise<void> {
    try {
      if (await this.client.bucketExists(this.loc.bucket)) return;
      await this.client.makeBucket(this.loc.bucket, this.loc.region);
    } catch (err) {
      const code = (err as { code?: string }).code;
      if (code === 'BucketAlreadyOwnedByYou' || code === 'BucketAlreadyExists') return; // another process won the race
      throw this.error(err, 'open');
    }
  }

  /**
   * Resolves once the response headers are in, so a missing key fails here and not mid-iteration.
   */
  private async open(
    key: string,
    range: ByteRange | undefined,
  ): Promise<AsyncIterable<Uint8Array>> {
    assertKey(key);
    assertRange(range, key);
    const name = this.loc.prefix + key;
    const start = range?.start ?? 0;
    const end = range?.end;
    try {
      if (end !== undefined && end === start) {
        // S3 has no empty range: check that the object exists and answer nothing.
        if (!(await this.stat(key)))
          throw new StrataError(
            'STRATA_E_STORE_NOT_FOUND',
            `no object at ${key} in s3://${this.loc.bucket}`,
            { details: { key } },
          );
        return emptyStream();
      }
      if (start === 0 && end === undefined)
        return await this.client.getObject(this.loc.bucket, name);
      return await this.client.getPartialObject(
        this.loc.bucket,
        name,
        start,
        end === undefined ? 0 : end - start,
      );
    } catch (err) {
      // A start at or past the end is unsatisfiable to S3; the contract slices it to nothing.
      if ((err as { code?: string }).code === 'InvalidRange') return emptyStream();
      throw this.error(err, 'get', key);
    }
  }

  private async assertAbsent(key: string): Promise<void> {
    if (await this.stat(key)) {
      throw new StrataError(
        'STRATA_E_STORE_EXISTS',
        `${key} already exists and is create-only; write under a new key (or pass { overwrite: true } for a pointer)`,
        { details: { key } },
      );
    }
  }

  private error(err: unknown, op: string, key?: string): StrataError {
    return s3Error(err, { op, key, endpoint: this.endpoint, bucket: this.loc.bucket });
  }
}

async function* emptyStream(): AsyncGenerator<Uint8Array> {}
