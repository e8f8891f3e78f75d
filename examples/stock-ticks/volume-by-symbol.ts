/**
 * Traded volume per symbol and minute: the stock-tick proof of concept, kept realtime.
 *
 *   strata views register examples/stock-ticks/volume-by-symbol.ts --every 10m
 *   strata ingest --follow ticks.ndjson --dataset ticks      # through strata speed
 *   strata get volume-by-symbol ACME 2026-01-05T14:31         # batch ⊕ realtime, exact
 *
 * A tick: { time (epoch ms), symbol, price, size, venue, seq }.
 */
import { defineJob, sum } from 'strata';

interface Tick {
  time: number;
  symbol: string;
  size: number;
}

export default defineJob({
  name: 'volume-by-symbol',
  input: { dataset: 'ticks' },
  partitions: 4,
  map: (t: Tick, emit) => emit([t.symbol, new Date(t.time).toISOString().slice(0, 16)], t.size),
  aggregate: sum(),
});
