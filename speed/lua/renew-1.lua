--[[
  Extends the speed lease if the caller still holds it.

    KEYS[1] leader   <p>:speed:leader
    ARGV[1] the caller's token
    ARGV[2] ttl (ms)

  Returns 1, or 0 when someone else holds it (or nobody).
]]
if redis.call('GET', KEYS[1]) ~= ARGV[1] then return 0 end
redis.call('PEXPIRE', KEYS[1], ARGV[2])
return 1
