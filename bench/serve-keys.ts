/**
 * The keys of the serve benchmark, computed from an index so that the publisher, the load
 * generator and the baselines agree without sharing a list: key i is [url, hour] with
 * url = '/p/<row, 8 digits>' (row = floor(i / 24)) and hour = i % 24; its value is i.
 *
 *   serveKey(25);                       // ['/p/00000001', 1]
 *   serveKeyPath(25);                   // '%2Fp%2F00000001/1'  (the part after /get/)
 *   for await (const chunk of encodeViewFile(partEntries(1_000_000, 8, 3))) …
 *
 * Zero-padded rows make numeric order equal byte order, so one pass over i per partition yields
 * that partition's entries already sorted: nothing is held in memory but the row → partition map.
 */
import { partitionOfRow } from '../core/keys/partition.ts';

export const HOURS = 24;

export function rowName(row: number): string {
  return `/p/${String(row).padStart(8, '0')}`;
}

export function serveKey(i: number): [string, number] {
  return [rowName(Math.floor(i / HOURS)), i % HOURS];
}

export function serveKeyPath(i: number): string {
  return `${encodeURIComponent(rowName(Math.floor(i / HOURS)))}/${i % HOURS}`;
}

/** partition of every row, computed once (rows = keys / 24). */
export function rowPartitions(keys: number, partitions: number): Uint16Array {
  const rows = Math.ceil(keys / HOURS);
  const out = new Uint16Array(rows);
  for (let r = 0; r < rows; r++) out[r] = partitionOfRow(rowName(r), partitions);
  return out;
}

/** The entries of one partition in key order: [[url, hour], i]. */
export function* partEntries(
  keys: number,
  partOfRow: Uint16Array,
  partition: number,
): Generator<readonly [[string, number], number]> {
  for (let r = 0; r < partOfRow.length; r++) {
    if (partOfRow[r] !== partition) continue;
    const url = rowName(r);
    for (let h = 0; h < HOURS && r * HOURS + h < keys; h++) yield [[url, h], r * HOURS + h];
  }
}
