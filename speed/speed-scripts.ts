/**
 * The speed layer's Lua scripts (./lua/<name>-<numKeys>.lua), defined once per Redis connection.
 *
 *   const scripts = speedScripts(redis);
 *   const [id, bucket] = await scripts.begin(seqKey, …, dataset, bucketMs, planned, records, token);
 *
 * Every state change of the commit log and the leader lease happens inside one of these scripts,
 * so it is atomic in Redis and never a read-modify-write in TypeScript.
 */
import { readFileSync, readdirSync } from 'node:fs';
import type { Redis } from 'ioredis';

export type SpeedScriptName = 'begin' | 'seal' | 'stage' | 'renew' | 'release' | 'takeover';
type Script = (...args: (string | number)[]) => Promise<unknown>;

const LUA_DIR = new URL('./lua/', import.meta.url);
const SCRIPTS = Object.fromEntries(
  readdirSync(LUA_DIR).flatMap((file) => {
    const m = /^(\w+)-(\d+)\.lua$/.exec(file);
    return m ? [[m[1]!, { numberOfKeys: Number(m[2]), lua: readFileSync(new URL(file, LUA_DIR), 'utf8') }]] : [];
  }),
) as Record<SpeedScriptName, { numberOfKeys: number; lua: string }>;

export function speedScripts(redis: Redis): Record<SpeedScriptName, Script> {
  const out: Partial<Record<SpeedScriptName, Script>> = {};
  for (const [name, def] of Object.entries(SCRIPTS) as [SpeedScriptName, { numberOfKeys: number; lua: string }][]) {
    const command = `strata_speed_${name}`;
    if (!(command in redis)) redis.defineCommand(command, def);
    out[name] = (redis as unknown as Record<string, Script>)[command]!.bind(redis);
  }
  return out as Record<SpeedScriptName, Script>;
}
