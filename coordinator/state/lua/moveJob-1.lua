--[[
  Moves a job from one non-terminal state to another (planning -> mapping -> reducing ->
  committing). Terminal states are reached only through finishJob.

    KEYS[1] job hash   <P>:job:<id>

    ARGV[1] to-state
    ARGV[2] allowed from-states, comma-separated (the transition table in job-state.ts)
    ARGV[3] now (ms)
    ARGV[4] extra fields: JSON object of string values (version, times)

  Returns { 1, fromState } or, refused, { 0, currentState } ('' when there is no such job).
]]
local rcall = redis.call
local state = rcall('HGET', KEYS[1], 'state')
if not state then return { 0, '' } end
-- A terminal state is never left, whatever the caller's table says.
if state == 'succeeded' or state == 'failed' or state == 'cancelled' then return { 0, state } end
if ARGV[1] == 'succeeded' or ARGV[1] == 'failed' or ARGV[1] == 'cancelled' then return { 0, state } end
if not string.find(',' .. ARGV[2] .. ',', ',' .. state .. ',', 1, true) then return { 0, state } end

local args = { 'state', ARGV[1], 'updated', ARGV[3] }
for field, value in pairs(cjson.decode(ARGV[4])) do
  if field ~= 'state' and field ~= 'id' then
    table.insert(args, field)
    table.insert(args, value)
  end
end
rcall('HSET', KEYS[1], unpack(args))
return { 1, state }
