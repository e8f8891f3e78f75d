/**
 * The serve benchmark's floor: a bare node:http server answering the benchmark's keys from an
 * in-memory Map, with the same URL shape and JSON body as the view server. It prints its URL on
 * stdout once listening and runs until SIGTERM.
 *
 *   $ npx tsx bench/serve-bare-server.ts --keys 1000000
 *   bare listening on http://127.0.0.1:40123
 *
 * It does the least a real server must: split and percent-decode the path, parse the hour, one
 * Map lookup, JSON.stringify the answer. No routing table, metrics, hooks or version bookkeeping.
 */
import { createServer } from 'node:http';
import { parseArgs } from 'node:util';
import { HOURS, rowName } from './serve-keys.ts';

const { values } = parseArgs({ options: { keys: { type: 'string', default: '1000000' } } });
const keys = Number(values.keys);
const map = new Map<string, number>();
for (let i = 0; i < keys; i++) map.set(`${rowName(Math.floor(i / HOURS))}\u0000${i % HOURS}`, i);

const MARKER = '/get/';
const server = createServer((req, res) => {
  const url = req.url ?? '';
  const at = url.indexOf(MARKER);
  const parts = at < 0 ? [] : url.slice(at + MARKER.length).split('/');
  let value: number | undefined;
  let key: [string, number] | undefined;
  if (parts.length === 2) {
    try {
      key = [decodeURIComponent(parts[0]!), Number(decodeURIComponent(parts[1]!))];
      value = map.get(`${key[0]}\u0000${key[1]}`);
    } catch {
      value = undefined;
    }
  }
  if (value === undefined || !key) {
    res
      .writeHead(404, { 'content-type': 'application/json; charset=utf-8' })
      .end('{"error":{"code":"STRATA_E_KEY_NOT_FOUND"}}');
    return;
  }
  res.writeHead(200, {
    'content-type': 'application/json; charset=utf-8',
    'strata-view-version': 'bare',
  });
  res.end(JSON.stringify({ view: 'bench', version: 'bare', key, value }));
});
server.keepAliveTimeout = 72_000;
server.listen(0, '127.0.0.1', () => {
  const address = server.address();
  process.stdout.write(
    `bare listening on http://127.0.0.1:${typeof address === 'object' && address ? address.port : 0}\n`,
  );
});
process.once('SIGTERM', () => server.close(() => process.exit(0)));
