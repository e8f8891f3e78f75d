/**
 * The sorted-run file: how a worker keeps sorted [key, value] entries on its local disk, both
 * for spills and for a map task's final output, which the shuffle server then streams as is.
 *
 *   await writeRunFile('/tmp/m-3.run', sortedEntries, { partitions: 8 }); // [partition, key, value]…
 *   const run = await openRunFile('/tmp/m-3.run');
 *   for await (const entries of run.entries(5)) for (const [key, value] of entries) …;
 *   await run.close();
 *
 * Layout (integers are unsigned 32-bit big-endian):
 *
 *   "STRTRUN1"                                   8-byte magic
 *   frame*                                       partition 0's frames, then 1's, … (none if empty)
 *     length | crc32(payload) | records | payload   payload = msgpack [[key, value], …] (bin, bin)
 *   footer                                       msgpack { v: 1, batchBytes, partitions: [[offset, bytes, batches, records], …] }
 *   footerLength | crc32(footer) | "STRTRUN1"    16-byte trailer
 *
 * One file per map task with a partition index, not one file per partition: a job with 200
 * reduce partitions would otherwise leave 200 small files per map task, and a spill needs every
 * partition anyway. Within a partition keys ascend by unsigned byte order (duplicates allowed:
 * a run is not combined); a frame never spans two partitions, so a frame's payload is exactly
 * one ShuffleChunk.batch and the server sends it without decoding it. Writes go to a temporary
 * name that is renamed at the end, so a run file that exists is complete.
 */
import { randomBytes } from 'node:crypto';
import { open, rename, rm, type FileHandle } from 'node:fs/promises';
import { crc32 } from 'node:zlib';
import { Packr, Unpackr } from 'msgpackr';
import { StrataError } from '../../core/errors.ts';

export type ShuffleEntry = [key: Uint8Array, value: Uint8Array];
export type RunEntry = readonly [partition: number, key: Uint8Array, value: Uint8Array];

export interface RunPartition {
  offset: number;
  bytes: number;
  batches: number;
  records: number;
}

export interface RunFileSummary {
  path: string;
  partitions: RunPartition[];
  records: number;
  batches: number;
  bytes: number;
}

/** One frame as stored: `bytes` is the msgpack payload (a ShuffleChunk.batch). */
export interface RunBatch {
  bytes: Buffer;
  records: number;
  crc32: number;
  index: number;
}

export const RUN_FILE_MAGIC = Buffer.from('STRTRUN1', 'latin1');
export const DEFAULT_BATCH_BYTES = 256 * 1024;
/** A single key + value larger than this is refused: it could not cross the shuffle. */
export const MAX_ENTRY_BYTES = 64 * 1024 * 1024;
const FRAME_HEADER = 12;
const TRAILER = 16;
/** msgpack overhead of one [bin, bin] pair, at most: fixarray + two bin32 headers. */
const PAIR_OVERHEAD = 11;

const packr = new Packr({ useRecords: false });
const unpackr = new Unpackr({ useRecords: false });

export interface WriteRunFileOptions {
  partitions: number;
  /** A batch is closed once its entries reach this many bytes. Default 256 KiB. */
  batchBytes?: number;
}

export async function writeRunFile(
  path: string,
  entries: AsyncIterable<RunEntry> | Iterable<RunEntry>,
  opts: WriteRunFileOptions,
): Promise<RunFileSummary> {
  const { partitions } = opts;
  const batchBytes = opts.batchBytes ?? DEFAULT_BATCH_BYTES;
  if (!Number.isInteger(partitions) || partitions < 1)
    throw new StrataError(
      'STRATA_E_INTERNAL',
      `a run file needs at least 1 partition, got ${partitions}`,
    );
  if (!Number.isInteger(batchBytes) || batchBytes < 1 || batchBytes > 16 * 1024 * 1024) {
    throw new StrataError(
      'STRATA_E_INTERNAL',
      `run-file batchBytes must be 1 B … 16 MiB, got ${batchBytes}`,
    );
  }
  const tmp = `${path}.tmp-${randomBytes(4).toString('hex')}`;
  const fh = await open(tmp, 'wx');
  const index: RunPartition[] = Array.from({ length: partitions }, () => ({
    offset: 0,
    bytes: 0,
    batches: 0,
    records: 0,
  }));
  // Everything but the write itself is synchronous, so a sorted in-memory run (a sync iterable)
  // costs no promise per entry; `position` counts frames as they are made.
  let position = RUN_FILE_MAGIC.length;
  let written = 0;
  let pending: ShuffleEntry[] = [];
  let pendingBytes = 0;
  let partition = 0;
  let previousKey: Uint8Array | undefined;

  const write = async (chunks: Uint8Array[]) => {
    const total = chunks.reduce((n, c) => n + c.length, 0);
    let done = (await fh.writev(chunks, written)).bytesWritten;
    if (done < total) {
      // A short write (rare, e.g. a signal mid-syscall): finish the rest the plain way.
      const rest = Buffer.concat(chunks).subarray(done);
      done += (await fh.write(rest, 0, rest.length, written + done)).bytesWritten;
      if (done < total)
        throw new StrataError(
          'STRATA_E_INTERNAL',
          `short write to run file ${tmp}: ${done} of ${total} bytes`,
        );
    }
    written += total;
  };
  const frame = (): Uint8Array[] | undefined => {
    if (pending.length === 0) return undefined;
    const payload = packr.pack(pending);
    const header = Buffer.allocUnsafe(FRAME_HEADER);
    header.writeUInt32BE(payload.length, 0);
    header.writeUInt32BE(crc32(payload), 4);
    header.writeUInt32BE(pending.length, 8);
    const p = index[partition]!;
    p.batches += 1;
    p.records += pending.length;
    p.bytes += FRAME_HEADER + payload.length;
    position += FRAME_HEADER + payload.length;
    pending = [];
    pendingBytes = 0;
    return [header, payload];
  };
  /** Takes one entry; returns the frame to write first when the entry closes a batch. */
  const admit = (p: number, key: Uint8Array, value: Uint8Array): Uint8Array[] | undefined => {
    let out: Uint8Array[] | undefined;
    if (p !== partition) {
      if (!Number.isInteger(p) || p < partition || p >= partitions) {
        throw new StrataError(
          'STRATA_E_INTERNAL',
          `run entries must come in ascending partitions 0…${partitions - 1}: got partition ${p} after ${partition}`,
          { details: { path } },
        );
      }
      out = frame();
      for (let q = partition + 1; q <= p; q++) index[q]!.offset = position;
      partition = p;
      previousKey = undefined;
    }
    if (previousKey !== undefined && Buffer.compare(previousKey, key) > 0) {
      throw new StrataError(
        'STRATA_E_INTERNAL',
        `run entries of partition ${p} are not sorted by key bytes`,
        { details: { path, partition: p } },
      );
    }
    const size = key.length + value.length + PAIR_OVERHEAD;
    if (size > MAX_ENTRY_BYTES) {
      throw new StrataError(
        'STRATA_E_JOB_VALUE',
        `an emitted key and value take ${size} bytes encoded; the limit for one entry is ${MAX_ENTRY_BYTES} (64 MiB): emit smaller values`,
        { details: { bytes: size } },
      );
    }
    if (pendingBytes > 0 && pendingBytes + size > batchBytes) out = frame();
    pending.push([key, value]);
    pendingBytes += size;
    previousKey = key;
    return out;
  };

  try {
    await write([RUN_FILE_MAGIC]);
    index[0]!.offset = position;
    if (Symbol.iterator in entries) {
      for (const [p, key, value] of entries) {
        const out = admit(p, key, value);
        if (out) await write(out);
      }
    } else {
      for await (const [p, key, value] of entries) {
        const out = admit(p, key, value);
        if (out) await write(out);
      }
    }
    const last = frame();
    if (last) await write(last);
    for (let q = partition + 1; q < partitions; q++) index[q]!.offset = position;
    const footer = packr.pack({
      v: 1,
      batchBytes,
      partitions: index.map((q) => [q.offset, q.bytes, q.batches, q.records]),
    });
    const trailer = Buffer.allocUnsafe(TRAILER);
    trailer.writeUInt32BE(footer.length, 0);
    trailer.writeUInt32BE(crc32(footer), 4);
    RUN_FILE_MAGIC.copy(trailer, 8);
    await write([footer, trailer]);
    // No fsync: a run file only has to outlive its task, not a crash of the machine (a lost
    // worker's outputs are re-made by re-running its maps).
    await fh.close();
    await rename(tmp, path);
  } catch (err) {
    await fh.close().catch(() => {});
    await rm(tmp, { force: true });
    throw err;
  }
  return {
    path,
    partitions: index,
    records: index.reduce((n, q) => n + q.records, 0),
    batches: index.reduce((n, q) => n + q.batches, 0),
    bytes: written,
  };
}

export interface RunFileReader {
  readonly path: string;
  readonly partitions: readonly RunPartition[];
  /** The stored frames of one partition, CRC-checked, from batch `startBatch` on. */
  batches(partition: number, opts?: { startBatch?: number }): AsyncGenerator<RunBatch>;
  /** The decoded entries of one partition, one array per batch, in key order. */
  entries(partition: number): AsyncGenerator<ShuffleEntry[]>;
  close(): Promise<void>;
}

export async function openRunFile(path: string): Promise<RunFileReader> {
  const fh = await open(path, 'r');
  try {
    const partitions = await readIndex(fh, path);
    return {
      path,
      partitions,
      batches: (partition, opts) =>
        readBatches(fh, path, partitions, partition, opts?.startBatch ?? 0),
      entries: async function* (partition) {
        for await (const batch of readBatches(fh, path, partitions, partition, 0))
          yield decodeBatch(batch.bytes, batch.records, path);
      },
      close: () => fh.close(),
    };
  } catch (err) {
    await fh.close();
    throw err;
  }
}

/**
 * Decodes one batch payload (a run-file frame or a ShuffleChunk.batch) into its entries. Keys and
 * values are views into `bytes`, not copies (~2.5M entries/s): copy one that must outlive the
 * batch, or it keeps the whole batch in memory.
 */
export function decodeBatch(bytes: Uint8Array, records: number, source: string): ShuffleEntry[] {
  let entries: unknown;
  try {
    entries = unpackr.unpack(bytes);
  } catch (err) {
    throw corrupt(source, `a batch is not valid msgpack (${(err as Error).message})`);
  }
  if (!Array.isArray(entries) || entries.length !== records)
    throw corrupt(
      source,
      `a batch holds ${Array.isArray(entries) ? entries.length : 'no'} entries, its header says ${records}`,
    );
  return entries as ShuffleEntry[];
}

async function readIndex(fh: FileHandle, path: string): Promise<RunPartition[]> {
  const { size } = await fh.stat();
  if (size < RUN_FILE_MAGIC.length + TRAILER)
    throw corrupt(path, `it is ${size} bytes, too short for a run file`);
  const trailer = await readExactly(fh, size - TRAILER, TRAILER, path);
  if (!trailer.subarray(8).equals(RUN_FILE_MAGIC))
    throw corrupt(path, 'it does not end with the run-file trailer (truncated, or not a run file)');
  const footerLength = trailer.readUInt32BE(0);
  const footerStart = size - TRAILER - footerLength;
  if (footerStart < RUN_FILE_MAGIC.length) throw corrupt(path, 'its footer length is impossible');
  const footer = await readExactly(fh, footerStart, footerLength, path);
  if (crc32(footer) !== trailer.readUInt32BE(4))
    throw corrupt(path, 'its footer failed the CRC32 check');
  const decoded = unpackr.unpack(footer) as { v?: unknown; partitions?: unknown };
  if (decoded.v !== 1 || !Array.isArray(decoded.partitions))
    throw corrupt(path, `unknown run-file version ${String(decoded.v)}`);
  let end = RUN_FILE_MAGIC.length;
  return (decoded.partitions as number[][]).map(([offset, bytes, batches, records], p) => {
    if (offset !== end || offset + bytes! > footerStart)
      throw corrupt(path, `the index entry of partition ${p} does not fit the file`);
    end = offset + bytes!;
    return { offset: offset!, bytes: bytes!, batches: batches!, records: records! };
  });
}

async function* readBatches(
  fh: FileHandle,
  path: string,
  partitions: readonly RunPartition[],
  partition: number,
  startBatch: number,
): AsyncGenerator<RunBatch> {
  const p = partitions[partition];
  if (!p)
    throw new StrataError(
      'STRATA_E_INTERNAL',
      `partition ${partition} is outside run file ${path}, which has partitions 0…${partitions.length - 1}`,
    );
  let position = p.offset;
  const end = p.offset + p.bytes;
  for (let index = 0; index < p.batches; index++) {
    const header = await readExactly(fh, position, FRAME_HEADER, path);
    const length = header.readUInt32BE(0);
    if (position + FRAME_HEADER + length > end)
      throw corrupt(path, `batch ${index} of partition ${partition} runs past the partition's end`);
    if (index >= startBatch) {
      const bytes = await readExactly(fh, position + FRAME_HEADER, length, path);
      const sum = header.readUInt32BE(4);
      if (crc32(bytes) !== sum)
        throw corrupt(path, `batch ${index} of partition ${partition} failed its CRC32 check`);
      yield { bytes, records: header.readUInt32BE(8), crc32: sum, index };
    }
    position += FRAME_HEADER + length;
  }
}

async function readExactly(
  fh: FileHandle,
  position: number,
  length: number,
  path: string,
): Promise<Buffer> {
  const buf = Buffer.allocUnsafe(length);
  let done = 0;
  while (done < length) {
    const { bytesRead } = await fh.read(buf, done, length - done, position + done);
    if (bytesRead === 0) throw corrupt(path, `it ends before byte ${position + length}`);
    done += bytesRead;
  }
  return buf;
}

function corrupt(path: string, why: string): StrataError {
  return new StrataError(
    'STRATA_E_RUN_FILE_CORRUPT',
    `run file ${path} is unusable: ${why}; the map task that wrote it must be re-run`,
    { details: { path } },
  );
}
