/**
 * Newline-delimited JSON, streamed: one JSON object per line, any file size.
 *
 *   for await (const { record, position } of readNdjson(fs.createReadStream(path), { file: path })) …
 *
 * Lines end in \n or \r\n; blank lines are skipped; a UTF-8 byte-order mark is ignored. A line that
 * is not a JSON object is STRATA_E_RECORD_INVALID naming the file, the line and the JSON problem.
 */
import { StringDecoder } from 'node:string_decoder';
import { StrataError } from '../../core/errors.ts';
import { describePosition, type InputRecord } from './input-record.ts';

export async function* readNdjson(
  bytes: AsyncIterable<Uint8Array>,
  options: { file: string },
): AsyncGenerator<InputRecord> {
  const decoder = new StringDecoder('utf8');
  let carry = '';
  let line = 0;
  let first = true;
  for await (const chunk of bytes) {
    let text = carry + decoder.write(chunk as Buffer);
    if (first && text.length > 0) {
      if (text.charCodeAt(0) === 0xfeff) text = text.slice(1);
      first = false;
    }
    let start = 0;
    for (let nl = text.indexOf('\n'); nl !== -1; nl = text.indexOf('\n', start)) {
      line++;
      const record = parseLine(text, start, nl, line, options.file);
      if (record) yield { record, position: { line } };
      start = nl + 1;
    }
    carry = start === 0 ? text : text.slice(start);
  }
  carry += decoder.end();
  if (carry.length > 0) {
    line++;
    const record = parseLine(carry, 0, carry.length, line, options.file);
    if (record) yield { record, position: { line } };
  }
}

function parseLine(
  text: string,
  start: number,
  end: number,
  line: number,
  file: string,
): Record<string, unknown> | undefined {
  if (end > start && text.charCodeAt(end - 1) === 13) end--; // \r\n
  if (end === start) return undefined;
  const s = text.slice(start, end);
  let value: unknown;
  try {
    value = JSON.parse(s);
  } catch (err) {
    if (s.trim() === '') return undefined;
    throw invalid(file, line, `is not valid JSON (${(err as Error).message})`, s);
  }
  if (value === null || typeof value !== 'object' || Array.isArray(value)) {
    throw invalid(
      file,
      line,
      `is ${value === null ? 'null' : Array.isArray(value) ? 'an array' : `a ${typeof value}`}, not a JSON object; each line must hold one record such as {"time": "…", …}`,
      s,
    );
  }
  return value as Record<string, unknown>;
}

function invalid(file: string, line: number, problem: string, text: string): StrataError {
  const excerpt = text.length > 80 ? `${text.slice(0, 80)}…` : text;
  return new StrataError(
    'STRATA_E_RECORD_INVALID',
    `${describePosition(file, { line })} ${problem}: ${excerpt}`,
    { details: { file, line } },
  );
}
