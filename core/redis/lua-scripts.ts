/**
 * A folder of Lua scripts named `<name>-<numberOfKeys>.lua`, as functions on one Redis connection.
 *
 *   const scripts = luaScripts<'begin' | 'seal'>(redis, new URL('./lua/', import.meta.url), 'strata_speed_');
 *   await scripts.seal(sealedKey, bucketMs);
 *
 * Each becomes an ioredis custom command (EVALSHA, falling back to EVAL once per connection), so
 * a state change written as a script is atomic in Redis and costs one round trip. A `_prelude.lua`
 * in the folder (shared local functions) is put in front of every script, since Redis scripts
 * cannot import each other. The files are read once per process, and the functions made once per
 * connection. `script.buffer(…)` is the same script answering Buffers (binary keys and values).
 */
import { readdirSync, readFileSync } from 'node:fs';
import type { Redis } from 'ioredis';

type Call = (...args: (string | number | Buffer)[]) => Promise<unknown>;
export type LuaScript = Call & { buffer: Call };

const loaded = new Map<string, Record<string, { numberOfKeys: number; lua: string }>>();

function definitions(dir: URL): Record<string, { numberOfKeys: number; lua: string }> {
  let defs = loaded.get(dir.href);
  if (!defs) {
    const files = readdirSync(dir);
    const prelude = files.includes('_prelude.lua')
      ? readFileSync(new URL('_prelude.lua', dir), 'utf8')
      : '';
    defs = Object.fromEntries(
      files.flatMap((file) => {
        const m = /^(\w+)-(\d+)\.lua$/.exec(file);
        return m
          ? [
              [
                m[1]!,
                {
                  numberOfKeys: Number(m[2]),
                  lua: prelude + readFileSync(new URL(file, dir), 'utf8'),
                },
              ],
            ]
          : [];
      }),
    );
    loaded.set(dir.href, defs);
  }
  return defs;
}

const made = new WeakMap<Redis, Map<string, Record<string, LuaScript>>>();

export function luaScripts<Name extends string>(
  redis: Redis,
  dir: URL,
  commandPrefix: string,
): Record<Name, LuaScript> {
  let byFolder = made.get(redis);
  if (!byFolder) made.set(redis, (byFolder = new Map()));
  const id = `${commandPrefix} ${dir.href}`;
  let out = byFolder.get(id);
  if (!out) {
    out = {};
    const commands = redis as unknown as Record<string, Call>;
    for (const [name, def] of Object.entries(definitions(dir))) {
      const command = `${commandPrefix}${name}`;
      if (!(command in redis)) redis.defineCommand(command, def);
      // ioredis defines `<command>Buffer` beside every custom command.
      out[name] = Object.assign(commands[command]!.bind(redis), {
        buffer: commands[`${command}Buffer`]!.bind(redis),
      });
    }
    byFolder.set(id, out);
  }
  return out as Record<Name, LuaScript>;
}
