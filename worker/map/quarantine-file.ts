/**
 * The quarantine of one map attempt: the input records a job with a bad-record budget skipped,
 * each with the error and where it came from, as NDJSON at
 * `quarantine/<jobId>/<taskId>-a<attempt>.ndjson` in the store, for the user to read.
 *
 *   const q = new QuarantineFile(store, task, attemptDir);
 *   await q.addRecord({ segment, block: 3, record: 17, position: 4113, code: 'STRATA_E_JOB_MAP_FAILED', error: 'bad url', value: record });
 *   await q.addBlock({ segment, block: 5, offset: 81920, records: 212, code: 'STRATA_E_SEGMENT_CORRUPT', error: 'CRC32 mismatch …' });
 *   await q.commit();   // → the key, or undefined when nothing was quarantined
 *
 * One line per bad record (`"kind":"record"`, the record itself under `value`) or per damaged
 * block (`"kind":"block"`, how many records it held). Lines are gathered in a local file in the
 * attempt's folder, so a large quarantine never sits in memory, and put in one piece at the end.
 * The key names the attempt, and only the attempt itself writes it (a re-run of the same attempt
 * replaces it), so a retry never mixes its lines with another attempt's.
 */
import { createReadStream } from 'node:fs';
import { appendFile, rm } from 'node:fs/promises';
import path from 'node:path';
import type { ObjectStore } from '../../core/store/store.ts';
import { quarantineKey, type MapTask } from '../../core/tasks/task-payload.ts';

export interface QuarantinedRecord {
  segment: string;
  block: number;
  /** Index of the record in its block. */
  record: number;
  /** Index of the record in the split (the task's input). */
  position: number;
  code: string;
  /** The user's error message. */
  error: string;
  /** The first lines of the user's stack, when there is one. */
  stack?: string;
  value: unknown;
}

export interface QuarantinedBlock {
  segment: string;
  block: number;
  offset: number;
  /** Records the block held (from the segment's footer): all of them were skipped. */
  records: number;
  code: string;
  error: string;
}

/** Lines gathered in memory before they are appended to the local file. */
const FLUSH_BYTES = 1024 * 1024;

export class QuarantineFile {
  readonly key: string;
  readonly #store: ObjectStore;
  readonly #localPath: string;
  #pending: string[] = [];
  #pendingBytes = 0;
  #lines = 0;

  constructor(
    store: ObjectStore,
    task: Pick<MapTask, 'jobId' | 'taskId' | 'attempt'>,
    attemptDir: string,
  ) {
    this.#store = store;
    this.key = quarantineKey(task);
    this.#localPath = path.join(attemptDir, 'quarantine.ndjson');
  }

  addRecord(entry: QuarantinedRecord): Promise<void> {
    return this.#add({ kind: 'record', ...entry });
  }

  addBlock(entry: QuarantinedBlock): Promise<void> {
    return this.#add({ kind: 'block', ...entry });
  }

  /**
   * Puts the file in the store (replacing an earlier run of this same attempt); undefined when
   * empty.
   */
  async commit(): Promise<string | undefined> {
    if (this.#lines === 0) return undefined;
    await this.#flush();
    await this.#store.put(this.key, createReadStream(this.#localPath), { overwrite: true });
    await rm(this.#localPath, { force: true });
    return this.key;
  }

  async #add(entry: Record<string, unknown>): Promise<void> {
    const line = `${JSON.stringify(entry, jsonSafe)}\n`;
    this.#pending.push(line);
    this.#pendingBytes += line.length;
    this.#lines++;
    if (this.#pendingBytes >= FLUSH_BYTES) await this.#flush();
  }

  async #flush(): Promise<void> {
    if (this.#pending.length === 0) return;
    const text = this.#pending.join('');
    this.#pending = [];
    this.#pendingBytes = 0;
    await appendFile(this.#localPath, text);
  }
}

/**
 * Records are whatever msgpack held: bytes become base64, big integers strings, so every line
 * parses.
 */
function jsonSafe(this: unknown, key: string, value: unknown): unknown {
  const raw = (this as Record<string, unknown>)[key];
  if (raw instanceof Uint8Array)
    return { base64: Buffer.from(raw.buffer, raw.byteOffset, raw.byteLength).toString('base64') };
  if (typeof value === 'bigint') return value.toString();
  return value;
}
