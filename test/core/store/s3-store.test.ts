import { randomUUID } from 'node:crypto';
import http from 'node:http';
import net from 'node:net';
import type { AddressInfo } from 'node:net';
import { Client, CopyDestinationOptions, CopySourceOptions } from 'minio';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { isStrataError } from '../../../core/errors.ts';
import { openStore, openStoreFromConfig } from '../../../core/store/open-store.ts';
import { S3Store } from '../../../core/store/s3-store.ts';
import { startS3Server, type S3TestServer } from '../../support/s3-server.ts';
import { describeStoreConformance } from './store-conformance.ts';

let s3: S3TestServer;
beforeAll(async () => {
  s3 = await startS3Server();
});
afterAll(async () => {
  await s3?.stop();
});

// Every store gets its own prefix in one bucket: an empty store without a new bucket each time.
describeStoreConformance('S3Store', () => openStore(s3.url('conformance', `run-${randomUUID()}`)), {
  onThroughput: ({ bytes, putMs, getMs }) =>
    console.info(
      `[s3 store] ${(bytes / 2 ** 20).toFixed(0)} MiB: put ${putMs.toFixed(0)} ms (${(bytes / 1e6 / (putMs / 1e3)).toFixed(0)} MB/s), get ${getMs.toFixed(0)} ms (${(bytes / 1e6 / (getMs / 1e3)).toFixed(0)} MB/s)`,
    ),
});

/** A port nothing listens on (bound, then released). */
async function closedPort(): Promise<number> {
  const server = net.createServer();
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
  const { port } = server.address() as AddressInfo;
  await new Promise<void>((r) => server.close(() => r()));
  return port;
}

describe('S3Store specifics', () => {
  it('opening a store creates its bucket, and the URL it reports carries no secrets', async () => {
    const store = await openStore(s3.url('fresh-bucket', 'team/a'));
    expect(store).toBeInstanceOf(S3Store);
    expect(store.url).toBe(
      `s3://fresh-bucket/team/a/?endpoint=${encodeURIComponent(s3.endpoint)}&region=us-east-1`,
    );
    expect(store.url).not.toMatch(/accessKey|secretKey|S3RVER/);
    await store.put('code/x.mjs', new Uint8Array([7]));
    // The prefix scopes the store: a sibling prefix sees nothing of it.
    const sibling = await openStore(s3.url('fresh-bucket', 'team/b'));
    const keys: string[] = [];
    for await (const o of sibling.list('')) keys.push(o.key);
    expect(keys).toEqual([]);
    await Promise.all([store.close(), sibling.close()]);
  });

  it('a store pointed at a closed port fails fast with STRATA_E_STORE_UNAVAILABLE naming the endpoint', async () => {
    const port = await closedPort();
    const started = performance.now();
    const err = await openStore(`s3://strata/x?endpoint=http://127.0.0.1:${port}`).catch(
      (e: unknown) => e,
    );
    const elapsed = performance.now() - started;
    expect(isStrataError(err, 'STRATA_E_STORE_UNAVAILABLE')).toBe(true);
    expect((err as Error).message).toContain(`http://127.0.0.1:${port}`);
    expect((err as Error).message).toMatch(/ECONNREFUSED/);
    expect((err as { retryable: boolean }).retryable).toBe(true);
    expect(elapsed).toBeLessThan(3_000);
  });

  it('a server that accepts connections but never answers fails with STRATA_E_STORE_UNAVAILABLE after the timeout', async () => {
    const sockets: net.Socket[] = [];
    const silent = net.createServer((s) => sockets.push(s));
    await new Promise<void>((r) => silent.listen(0, '127.0.0.1', () => r()));
    const { port } = silent.address() as AddressInfo;
    try {
      const started = performance.now();
      const err = await S3Store.open(`s3://strata/x?endpoint=http://127.0.0.1:${port}`, {
        idleTimeoutMs: 300,
      }).catch((e: unknown) => e);
      expect(isStrataError(err, 'STRATA_E_STORE_UNAVAILABLE')).toBe(true);
      expect((err as Error).message).toMatch(/ETIMEDOUT/);
      expect(performance.now() - started).toBeLessThan(3_000);
    } finally {
      sockets.forEach((s) => s.destroy());
      await new Promise<void>((r) => silent.close(() => r()));
    }
  });

  // s3rver checks the access key but not V4 signatures, so a wrong secret cannot be shown here.
  it('wrong credentials fail with a non-retryable STRATA_E_STORE_UNAVAILABLE that says to check the keys', async () => {
    const url = s3.url('strata-creds').replace('accessKey=S3RVER', 'accessKey=wrong');
    const err = await openStore(url).catch((e: unknown) => e);
    expect(isStrataError(err, 'STRATA_E_STORE_UNAVAILABLE')).toBe(true);
    expect((err as Error).message).toMatch(/access key and secret key/);
    expect((err as Error).message).not.toContain('wrong');
    expect((err as { retryable: boolean }).retryable).toBe(false);
  });

  it('credentials come from the options (the configuration) when the URL has none', async () => {
    const bare = `s3://strata-config/p?endpoint=${encodeURIComponent(s3.endpoint)}`;
    const store = await openStoreFromConfig({
      store: bare,
      s3AccessKey: s3.accessKey,
      s3SecretKey: s3.secretKey,
    });
    await store.put('tmp/x', new Uint8Array([1]));
    expect((await store.stat('tmp/x'))?.size).toBe(1);
    await store.close();
    const err = await openStore(bare, { accessKey: 'not-it', secretKey: s3.secretKey }).catch(
      (e: unknown) => e,
    );
    expect(isStrataError(err, 'STRATA_E_STORE_UNAVAILABLE')).toBe(true);
  });

  it('a malformed or unknown store URL fails with STRATA_E_STORE_URL showing both accepted forms or the problem, secrets hidden', async () => {
    const err = await openStore('http://127.0.0.1:9000/bucket?secretKey=hunter2').catch(
      (e: unknown) => e,
    );
    expect(isStrataError(err, 'STRATA_E_STORE_URL')).toBe(true);
    expect((err as Error).message).toContain('file:///');
    expect((err as Error).message).toContain('s3://bucket/prefix?endpoint=');
    expect((err as Error).message).not.toContain('hunter2');
    for (const url of [
      's3://ab/x?endpoint=http://127.0.0.1:1',
      's3://strata/x?endpiont=http://127.0.0.1:1',
      's3://strata/x?endpoint=ftp://h',
      's3://strata/a//b?endpoint=http://127.0.0.1:1',
    ]) {
      const e = await openStore(url).catch((x: unknown) => x);
      expect(isStrataError(e, 'STRATA_E_STORE_URL'), url).toBe(true);
    }
  });

  it('reading a store whose server went away fails with STRATA_E_STORE_UNAVAILABLE, not a hang', async () => {
    const other = await startS3Server();
    const store = await openStore(other.url('strata-gone'));
    await store.put('tmp/a', new Uint8Array([1]));
    await other.stop();
    const started = performance.now();
    await expect(store.get('tmp/a')).rejects.toSatisfy((e) =>
      isStrataError(e, 'STRATA_E_STORE_UNAVAILABLE'),
    );
    await expect(store.stat('tmp/a')).rejects.toSatisfy((e) =>
      isStrataError(e, 'STRATA_E_STORE_UNAVAILABLE'),
    );
    expect(performance.now() - started).toBeLessThan(3_000);
    await store.close();
  });

  it('the test server lists in key byte order and pages with continuation tokens, folding common prefixes', async () => {
    const store = await openStore(s3.url('paging-bucket'));
    const keys = ['d/x', 'a-1', 'a/2', 'a/1', 'b', 'a.0', 'c/9/9'];
    for (const k of keys) await store.put(k, new Uint8Array([1]));
    await store.close();
    const ep = new URL(s3.endpoint);
    const client = new Client({
      endPoint: ep.hostname,
      port: Number(ep.port),
      useSSL: false,
      accessKey: s3.accessKey,
      secretKey: s3.secretKey,
      region: 'us-east-1',
    });
    const page = async (token: string, delimiter: string) => {
      const r = (await client.listObjectsV2Query(
        'paging-bucket',
        '',
        token,
        delimiter,
        2,
        '',
      )) as unknown as {
        objects: { name?: string; prefix?: string }[];
        isTruncated: boolean;
        nextContinuationToken: string;
      };
      return {
        names: r.objects.map((o) => o.name ?? `[${o.prefix}]`),
        more: r.isTruncated,
        token: r.nextContinuationToken,
      };
    };
    const walk = async (delimiter: string) => {
      const out: string[][] = [];
      let token = '';
      for (;;) {
        const p = await page(token, delimiter);
        out.push(p.names);
        if (!p.more) return out;
        token = p.token;
      }
    };
    expect(await walk('')).toEqual([['a-1', 'a.0'], ['a/1', 'a/2'], ['b', 'c/9/9'], ['d/x']]);
    // ListMultipartUploads (s3rver alone answers 501) is an empty list, so minio's putObject can go
    // multipart.
    expect(await client.findUploadId('paging-bucket', 'a/1')).toBeUndefined();
    // Contents come before CommonPrefixes within a page, as on S3.
    expect(await walk('/')).toEqual([
      ['a-1', 'a.0'],
      ['b', '[a/]'],
      ['[c/]', '[d/]'],
    ]);
  });

  it('the test server answers a plain create-only PUT on an existing key with 412 PreconditionFailed', async () => {
    const put = (body: string) =>
      new Promise<{ status: number; body: string }>((resolve, reject) => {
        const req = http.request(
          `${s3.endpoint}/raw-bucket/k`,
          { method: 'PUT', headers: { 'if-none-match': '*', 'content-length': body.length } },
          (res) => {
            let text = '';
            res.on('data', (c) => (text += c));
            res.on('end', () => resolve({ status: res.statusCode!, body: text }));
          },
        );
        req.on('error', reject);
        req.end(body);
      });
    await openStore(s3.url('raw-bucket')).then((s) => s.close()); // creates the bucket
    expect((await put('one')).status).toBe(200);
    const second = await put('two');
    expect(second.status).toBe(412);
    expect(second.body).toContain('<Code>PreconditionFailed</Code>');
    const ep = new URL(s3.endpoint);
    const client = new Client({
      endPoint: ep.hostname,
      port: Number(ep.port),
      useSSL: false,
      accessKey: s3.accessKey,
      secretKey: s3.secretKey,
      region: 'us-east-1',
    });
    await client.putObject('raw-bucket', 'other', Buffer.from('x'));
    const copy = (to: string) =>
      client.copyObject(
        new CopySourceOptions({ Bucket: 'raw-bucket', Object: 'other' }),
        new CopyDestinationOptions({
          Bucket: 'raw-bucket',
          Object: to,
          Headers: { 'If-None-Match': '*' },
        }),
      );
    await expect(copy('k')).rejects.toMatchObject({ code: 'PreconditionFailed' });
    await copy('k2');
  });
});
