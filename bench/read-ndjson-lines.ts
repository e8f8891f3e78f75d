/**
 * The baselines' reading loop: a file's lines, in 1 MiB chunks, with no parsing of its own, so a
 * baseline costs exactly the read, the split and whatever the caller does with each line.
 */
import { createReadStream } from 'node:fs';

export async function forEachLine(file: string, onLine: (line: string) => void): Promise<void> {
  let rest = '';
  for await (const chunk of createReadStream(file, { encoding: 'utf8', highWaterMark: 1 << 20 })) {
    const text = rest + chunk;
    let start = 0;
    for (let nl = text.indexOf('\n'); nl !== -1; nl = text.indexOf('\n', start)) {
      if (nl > start) onLine(text.slice(start, nl));
      start = nl + 1;
    }
    rest = text.slice(start);
  }
  if (rest.trim()) onLine(rest);
}
