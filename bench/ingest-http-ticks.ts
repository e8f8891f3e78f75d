/**
 * Stock-tick records as NDJSON request bodies for the ingest-http benchmark: a seeded random walk
 * per symbol, epoch-millisecond times a few ms apart, ~110 bytes a record.
 *
 *   const bodies = tickBatches(64, 2000, 11);   // 64 Buffers of 2,000 lines each
 */
const SYMBOLS = [
  'ACME',
  'GLOBX',
  'INITech',
  'UMBR',
  'WAYNE',
  'STARK',
  'TYRL',
  'CYBD',
  'SOYL',
  'OSCP',
  'MASSV',
  'HOOLI',
];
const VENUES = ['XNAS', 'XNYS', 'BATS', 'ARCX'];

export function tickBatches(batches: number, perBatch: number, seed: number): Buffer[] {
  let s = seed >>> 0;
  const rand = () => {
    // xorshift32: deterministic, fast, good enough for test data
    s ^= s << 13;
    s ^= s >>> 17;
    s ^= s << 5;
    return (s >>> 0) / 2 ** 32;
  };
  const prices = SYMBOLS.map(() => 50 + rand() * 200);
  let time = Date.UTC(2026, 0, 5, 14, 30);
  let seq = 0;
  const out: Buffer[] = [];
  for (let b = 0; b < batches; b++) {
    const lines: string[] = new Array(perBatch);
    for (let i = 0; i < perBatch; i++) {
      const k = Math.floor(rand() * SYMBOLS.length);
      prices[k] = Math.max(1, prices[k]! * (1 + (rand() - 0.5) * 0.002));
      time += Math.floor(rand() * 4);
      lines[i] = JSON.stringify({
        time,
        symbol: SYMBOLS[k],
        price: Math.round(prices[k]! * 100) / 100,
        size: 1 + Math.floor(rand() * 500),
        venue: VENUES[Math.floor(rand() * VENUES.length)],
        seq: seq++,
      });
    }
    out.push(Buffer.from(`${lines.join('\n')}\n`));
  }
  return out;
}
