--[[
  Takes the speed lease over from a holder known to be dead (a process of this host that no
  longer exists), only if that holder still has it: two starters racing cannot both win.

    KEYS[1] leader   <p>:speed:leader
    ARGV[1] the dead holder's token, as read
    ARGV[2] the new token
    ARGV[3] ttl (ms)

  Returns 1 when taken over, 0 when the lease changed meanwhile.
]]
if redis.call('GET', KEYS[1]) ~= ARGV[1] then return 0 end
redis.call('SET', KEYS[1], ARGV[2], 'PX', ARGV[3])
return 1
