--[[
  Seals a dataset's realtime buckets: every commit begun before this call has a bucket at or
  below the returned one, every commit begun after it a higher one.

    KEYS[1] sealed   <p>:speed:<ds>:sealed
    ARGV[1] bucketMs

  Returns the sealed bucket: max(previous sealed + 1, bucket of Redis's clock now). It always
  moves, so a commit in the current bucket that began just before is covered.
]]
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local current = math.floor(now / tonumber(ARGV[1]))
local sealed = tonumber(redis.call('GET', KEYS[1]) or '-1')
local next = sealed + 1
if current > next then next = current end
redis.call('SET', KEYS[1], string.format('%.0f', next))
return next
