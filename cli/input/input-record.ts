/**
 * What every input reader yields, and how a position is named in messages.
 *
 *   for await (const { record, position } of readNdjson(bytes, { file: 'events.ndjson' })) …
 *   describePosition('events.csv', { row: 3, line: 4 })   // 'events.csv row 3 (line 4)'
 */
export type InputFormat = 'ndjson' | 'csv' | 'parquet';

export const INPUT_FORMATS: readonly InputFormat[] = ['ndjson', 'csv', 'parquet'];

/**
 * NDJSON names the 1-based line; CSV the 1-based data row (and the line it ends on); Parquet the
 * 1-based row.
 */
export interface InputPosition {
  line?: number;
  row?: number;
}

export interface InputRecord {
  record: Record<string, unknown>;
  position: InputPosition;
}

export function describePosition(file: string, position: InputPosition): string {
  if (position.row !== undefined)
    return `${file} row ${position.row}${position.line !== undefined ? ` (line ${position.line})` : ''}`;
  return `${file} line ${position.line ?? '?'}`;
}
