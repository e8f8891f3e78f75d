-- Drops a realtime view's buckets <= ARGV[1] (KEYS: bucket index, key index, folded markers;
-- ARGV[2] .. bucket: the bucket hashes); a key leaves the key index when no remaining bucket holds it.
local drop = redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', ARGV[1])
if #drop == 0 then return 0 end
local keep = redis.call('ZRANGEBYSCORE', KEYS[1], '(' .. ARGV[1], '+inf')
for _, b in ipairs(drop) do
  local fields = redis.call('HKEYS', ARGV[2] .. b)
  for _, f in ipairs(fields) do
    local alive = false
    for _, k in ipairs(keep) do
      if redis.call('HEXISTS', ARGV[2] .. k, f) == 1 then alive = true; break end
    end
    if not alive then redis.call('ZREM', KEYS[2], f) end
  end
  redis.call('DEL', ARGV[2] .. b)
end
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', ARGV[1])
redis.call('ZREMRANGEBYSCORE', KEYS[3], '-inf', ARGV[1])
return #drop
