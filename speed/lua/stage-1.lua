--[[
  Marks an in-flight commit as staged: its segments are durable under tmp/ and the listed
  copies to master/ are what remains (recovery rolls them forward).

    KEYS[1] inflight   <p>:speed:<ds>:inflight
    ARGV[1] commit id
    ARGV[2] copies: JSON array of { from, to }

  Returns 1, or 0 when the commit is not in flight (it was completed or dropped).
]]
local raw = redis.call('HGET', KEYS[1], ARGV[1])
if not raw then return 0 end
local rec = cjson.decode(raw)
rec.staged = true
rec.copies = cjson.decode(ARGV[2])
redis.call('HSET', KEYS[1], ARGV[1], cjson.encode(rec))
return 1
