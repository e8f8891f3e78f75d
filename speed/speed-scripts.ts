/**
 * The speed layer's Lua scripts (./lua/<name>-<numKeys>.lua), defined once per Redis connection.
 *
 *   const scripts = speedScripts(redis);
 *   const [id, bucket] = await scripts.begin(seqKey, …, dataset, bucketMs, planned, records, token);
 *
 * Every state change of the commit log and the leader lease happens inside one of these scripts,
 * so it is atomic in Redis and never a read-modify-write in TypeScript; the realtime state's read
 * (rtRead, on every realtime request) and bucket drop (rtDrop) are scripts here too, sent by
 * EVALSHA rather than as text each time.
 */
import type { Redis } from 'ioredis';
import { luaScripts, type LuaScript } from '../core/redis/lua-scripts.ts';
import { packageUrl } from '../core/package-root.ts';

export type SpeedScriptName =
  'begin' | 'seal' | 'stage' | 'renew' | 'release' | 'takeover' | 'rtRead' | 'rtDrop';

const LUA_DIR = packageUrl('speed/lua/');

/** The scripts on this connection (made once per connection; cheap to call per request). */
export function speedScripts(redis: Redis): Record<SpeedScriptName, LuaScript> {
  return luaScripts<SpeedScriptName>(redis, LUA_DIR, 'strata_speed_');
}
