--[[
  Gives the speed lease up if the caller holds it.

    KEYS[1] leader   <p>:speed:leader
    ARGV[1] the caller's token

  Returns 1 when released, 0 when it was not the caller's.
]]
if redis.call('GET', KEYS[1]) ~= ARGV[1] then return 0 end
redis.call('DEL', KEYS[1])
return 1
