/**
 * Summarizes a V8 `.cpuprofile` (node --cpu-prof) as self time per function and per area
 * (our folders, each npm package, node internals, GC, idle), busiest first.
 *
 *   say(summarizeCpuProfile(readFileSync('CPU.123.cpuprofile', 'utf8'), 25));
 *
 * Self time is samples × the mean sampling interval; "(idle)" is the event loop waiting.
 */
interface ProfileNode {
  id: number;
  hitCount?: number;
  callFrame: { functionName: string; url: string; lineNumber: number };
}

interface CpuProfile {
  nodes: ProfileNode[];
  startTime: number;
  endTime: number;
  samples: number[];
}

function areaOf(url: string, fn: string): string {
  if (!url) return fn.startsWith('(') ? fn : '(native)';
  const pkg = /node_modules\/((?:@[^/]+\/)?[^/]+)/.exec(url);
  if (pkg) return pkg[1]!;
  if (url.startsWith('node:')) return 'node internals';
  const ours = /\/(core\/[^/]+|serving|cli|bench|jobs)\//.exec(url);
  return ours ? ours[1]! : url;
}

export function summarizeCpuProfile(json: string, top: number): string {
  const profile = JSON.parse(json) as CpuProfile;
  const totalMs = (profile.endTime - profile.startTime) / 1000;
  const msPerSample = totalMs / Math.max(1, profile.samples.length);
  const byFn = new Map<string, number>();
  const byArea = new Map<string, number>();
  for (const node of profile.nodes) {
    const hits = node.hitCount ?? 0;
    if (hits === 0) continue;
    const { functionName, url, lineNumber } = node.callFrame;
    const short = url.replace(/^file:\/\/.*?\/(node_modules\/|(?=(core|serving|cli|bench)\/))/, '');
    const fnKey = `${functionName || '(anonymous)'}  ${short ? `${short}:${lineNumber + 1}` : ''}`;
    byFn.set(fnKey, (byFn.get(fnKey) ?? 0) + hits);
    const area = areaOf(url, functionName);
    byArea.set(area, (byArea.get(area) ?? 0) + hits);
  }
  const samples = profile.samples.length;
  const rows = (m: Map<string, number>, n: number) =>
    [...m]
      .sort((a, b) => b[1] - a[1])
      .slice(0, n)
      .map(
        ([k, hits]) =>
          `  ${((hits / samples) * 100).toFixed(1).padStart(5)}%  ${(hits * msPerSample).toFixed(0).padStart(6)} ms  ${k}`,
      )
      .join('\n');
  return `${samples} samples over ${(totalMs / 1000).toFixed(1)} s\nby area:\n${rows(byArea, 15)}\nby function:\n${rows(byFn, top)}`;
}
