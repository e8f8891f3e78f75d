-- A realtime view's state: every bucket after ARGV[1] (KEYS[1]: the bucket index), read for the
-- keys ARGV[3..] from the hashes ARGV[2] .. bucket; returns { buckets, values per key }.
local bs = redis.call('ZRANGEBYSCORE', KEYS[1], '(' .. ARGV[1], '+inf')
local out = {}
local n = #ARGV - 2
for i = 1, n do out[i] = {} end
for _, b in ipairs(bs) do
  local vals = redis.call('HMGET', ARGV[2] .. b, unpack(ARGV, 3))
  for i = 1, n do if vals[i] then local t = out[i]; t[#t + 1] = vals[i] end end
end
return { bs, out }
