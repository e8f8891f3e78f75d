/**
 * Streams a put body of any size to S3: one PutObject when it fits in a part, else a multipart
 * upload with a bounded number of parts in flight (memory stays near (concurrency + 2) × partSize).
 *
 *   const size = await uploadObject({ client, bucket, objectName, partSize: 16 << 20, concurrency: 2, createOnly: true }, body);
 *
 * Create-only is `If-None-Match: *`, evaluated by the server at the moment the object becomes
 * visible, so two racing writers cannot both succeed (AWS S3 and MinIO answer 412):
 * - single part: on the PutObject itself (minio-js sends it from putObject's metadata argument);
 * - multipart: on CompleteMultipartUpload. minio-js's own putObject cannot do this for large
 *   objects: it sends its metadata headers only with CreateMultipartUpload, where S3 ignores
 *   conditions, and it would also resume another writer's unfinished upload of the same key.
 *   So the multipart flow is driven here with the client's signed primitives, and the complete
 *   request is sent with the header. A HEAD just before starting a multipart upload saves
 *   uploading gigabytes into a key that is already taken; it is an optimisation, not the guard.
 *   Residual risk: an S3 server that ignores conditions on CompleteMultipartUpload (old MinIO)
 *   is guarded only by that HEAD, leaving the window between HEAD and complete open.
 */
import type { Client } from 'minio';
import type { PutBody } from './store.ts';

export interface UploadTarget {
  client: Client;
  bucket: string;
  objectName: string;
  /** Bytes per part (S3: at least 5 MiB); also the largest object sent as a single PutObject. */
  partSize: number;
  /** Parts uploaded at once. */
  concurrency: number;
  createOnly: boolean;
  /** Called before a multipart upload starts, to fail fast when the key is taken. */
  beforeMultipart?: () => Promise<void>;
}

/**
 * Uploads `body` and returns its size in bytes. Errors are minio's (map them with s3Error); errors
 * of `body` itself pass through.
 */
export async function uploadObject(target: UploadTarget, body: PutBody): Promise<number> {
  const parts =
    body instanceof Uint8Array ? slicesOf(body, target.partSize) : partsOf(body, target.partSize);
  const first = await parts.next();
  if (first.done) return putSingle(target, Buffer.alloc(0));
  if (first.value.last) return putSingle(target, first.value.data);
  return putMultipart(target, first.value.data, parts);
}

interface Part {
  data: Buffer;
  /** True when no byte follows: lets a body that fits one part go out as one PutObject. */
  last: boolean;
}

async function putSingle(t: UploadTarget, data: Buffer): Promise<number> {
  const headers = t.createOnly ? { 'If-None-Match': '*' } : {};
  await t.client.putObject(t.bucket, t.objectName, data, data.length, headers);
  return data.length;
}

async function putMultipart(
  t: UploadTarget,
  firstData: Buffer,
  rest: AsyncGenerator<Part>,
): Promise<number> {
  if (t.beforeMultipart) await t.beforeMultipart();
  const uploadId = await t.client.initiateNewMultipartUpload(t.bucket, t.objectName, {});
  const etags: { part: number; etag: string }[] = [];
  const inFlight = new Set<Promise<void>>();
  let failure: { error: unknown } | undefined;
  let size = 0;
  let partNumber = 0;
  const send = (data: Buffer) => {
    const part = ++partNumber;
    size += data.length;
    const task: Promise<void> = t.client
      .uploadPart(
        {
          bucketName: t.bucket,
          objectName: t.objectName,
          uploadID: uploadId,
          partNumber: part,
          headers: {},
        },
        data,
      )
      .then(
        (res) => void etags.push({ part, etag: res.etag }),
        (error: unknown) => void (failure ??= { error }),
      )
      .finally(() => inFlight.delete(task));
    inFlight.add(task);
  };
  try {
    send(firstData);
    for await (const { data } of rest) {
      while (inFlight.size >= t.concurrency && !failure) await Promise.race(inFlight);
      if (failure) throw failure.error;
      send(data);
    }
    await Promise.all(inFlight);
    if (failure) throw failure.error;
    etags.sort((a, b) => a.part - b.part);
    await completeUpload(t, uploadId, etags);
    return size;
  } catch (err) {
    await Promise.allSettled(inFlight);
    await t.client.abortMultipartUpload(t.bucket, t.objectName, uploadId).catch(() => undefined); // best effort; a lifecycle rule reaps leftovers
    throw err;
  }
}

async function completeUpload(
  t: UploadTarget,
  uploadId: string,
  etags: { part: number; etag: string }[],
): Promise<void> {
  const xml =
    '<CompleteMultipartUpload xmlns="http://s3.amazonaws.com/doc/2006-03-01/">' +
    etags
      .map(
        (e) => `<Part><PartNumber>${e.part}</PartNumber><ETag>${escapeXml(e.etag)}</ETag></Part>`,
      )
      .join('') +
    '</CompleteMultipartUpload>';
  const res = await t.client.makeRequestAsync(
    {
      method: 'POST',
      bucketName: t.bucket,
      objectName: t.objectName,
      query: `uploadId=${rfc3986(uploadId)}`,
      headers: t.createOnly ? { 'If-None-Match': '*' } : {},
    },
    xml,
  );
  let text = '';
  for await (const chunk of res) text += chunk;
  // S3 may answer 200 and still fail the complete in the body (it streams whitespace while it
  // works).
  const failed =
    /<Error>[\s\S]*?<Code>([^<]*)<\/Code>(?:[\s\S]*?<Message>([^<]*)<\/Message>)?/.exec(text);
  if (failed) throw Object.assign(new Error(failed[2] ?? failed[1]), { code: failed[1] });
}

/**
 * Cuts an async body into parts of exactly `partSize` bytes (the last may be shorter), copying each
 * byte once.
 */
async function* partsOf(body: AsyncIterable<Uint8Array>, partSize: number): AsyncGenerator<Part> {
  let full: Buffer | undefined; // a complete part held until we know whether more bytes follow
  let buf: Buffer | undefined;
  let fill = 0;
  for await (const chunk of body) {
    for (let off = 0; off < chunk.length;) {
      if (full) {
        yield { data: full, last: false };
        full = undefined;
      }
      buf ??= Buffer.allocUnsafeSlow(partSize);
      const n = Math.min(partSize - fill, chunk.length - off);
      buf.set(chunk.subarray(off, off + n), fill);
      fill += n;
      off += n;
      if (fill === partSize) {
        full = buf;
        buf = undefined;
        fill = 0;
      }
    }
  }
  if (full) yield { data: full, last: true };
  else if (fill > 0 && buf) yield { data: buf.subarray(0, fill), last: true };
}

/** A body already in memory is cut into views, not copied. */
async function* slicesOf(body: Uint8Array, partSize: number): AsyncGenerator<Part> {
  const whole = Buffer.from(body.buffer, body.byteOffset, body.byteLength);
  for (let off = 0; off < whole.length; off += partSize) {
    yield { data: whole.subarray(off, off + partSize), last: off + partSize >= whole.length };
  }
}

function escapeXml(s: string): string {
  return s.replace(/[<>&'"]/g, (c) => `&#${c.charCodeAt(0)};`);
}

function rfc3986(s: string): string {
  return encodeURIComponent(s).replace(
    /[!'()*]/g,
    (c) => `%${c.charCodeAt(0).toString(16).toUpperCase()}`,
  );
}
