/**
 * What a speed parse thread does with one request body: decode, parse, validate (record-batch.ts)
 * and pack the records with the segment codec, so the main thread only unpacks them (msgpack
 * decodes several times faster than JSON.parse) and the heavy part runs beside it.
 *
 *   const reply = await pool.run({ body, format: 'ndjson', timeField: 'time' }, { name: 'parse' });
 *   if (reply.ok) unpackRecords(reply.value.packed)   // the records; reply.value.times their event times
 *
 * A bad request comes back as StrataError JSON (the same message as parsing on the main thread),
 * never as a thrown structured clone, which would drop its code and details.
 */
import { StrataError, toStrataError, type StrataErrorJSON } from '../core/errors.ts';
import { packRecords } from '../core/segment/segment-format.ts';
import {
  parseRecordBatch,
  type BodyFormat,
  type RecordBatch,
  type RecordBatchOptions,
} from './record-batch.ts';

export interface ParseRequest {
  body: Uint8Array;
  format: BodyFormat;
  timeField: string;
  defaultTime?: number;
}

export interface ParsedBody {
  /** packRecords(records) */
  packed: Uint8Array;
  times: Float64Array;
  count: number;
}

export type ParseReply = { ok: true; value: ParsedBody } | { ok: false; error: StrataErrorJSON };

const decoder = new TextDecoder('utf-8');

/**
 * A request body (UTF-8 bytes) as a validated batch: on a parse thread, or inline for a small one.
 */
export function parseBody(
  body: Uint8Array,
  format: BodyFormat,
  options: RecordBatchOptions,
): RecordBatch {
  const text = decoder.decode(body);
  return parseRecordBatch(format === 'json' ? parseJson(text) : text, format, options);
}

export function parse(req: ParseRequest): ParseReply {
  try {
    const batch = parseBody(req.body, req.format, {
      timeField: req.timeField,
      ...(req.defaultTime !== undefined ? { defaultTime: req.defaultTime } : {}),
    });
    // A copy of exact size: the packer's result is a view of a larger buffer, all of which a
    // structured clone would copy.
    const packed = new Uint8Array(packRecords(batch.records));
    return {
      ok: true,
      value: { packed, times: Float64Array.from(batch.times), count: batch.records.length },
    };
  } catch (err) {
    const { stack: _stack, ...error } = toStrataError(err).toJSON();
    return { ok: false, error };
  }
}

export function ping(): 'pong' {
  return 'pong';
}

/** JSON bodies: one parse; a syntax error is the same STRATA_E_USAGE the inline parser gives. */
export function parseJson(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch (err) {
    throw new StrataError(
      'STRATA_E_USAGE',
      `the request body is not JSON (${(err as Error).message}); send an array of records, or one record per line as application/x-ndjson`,
    );
  }
}
