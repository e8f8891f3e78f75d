--[[
  Creates a job in state 'planning' with every planned task 'pending' at attempt 1.

    KEYS[1] job hash     <P>:job:<id>
    KEYS[2] tasks hash   <P>:job:<id>:tasks   (taskId -> task record JSON)
    KEYS[3] jobs zset    <P>:jobs             (score: submit time, ms)
    KEYS[4] live set     <P>:jobs:live        (jobs not yet in a terminal state)

    ARGV[1] job id
    ARGV[2] submit time (ms)
    ARGV[3] job fields: JSON object of string values (spec, plan, counts)
    ARGV[4] tasks: JSON object taskId -> task record (a JSON string)

  Returns 1, or 0 when a job with this id exists (nothing is written).
]]
if rcall('EXISTS', KEYS[1]) == 1 then return 0 end

local args = { 'id', ARGV[1], 'state', 'planning', 'submitted', ARGV[2], 'updated', ARGV[2] }
for field, value in pairs(cjson.decode(ARGV[3])) do
  if field ~= 'id' and field ~= 'state' then
    table.insert(args, field)
    table.insert(args, value)
  end
end
rcall('HSET', KEYS[1], unpack(args))

-- HSET in batches: Lua's unpack has a small stack.
local batch = {}
for taskId, text in pairs(cjson.decode(ARGV[4])) do
  local rec = cjson.decode(text)
  rec.state = 'pending'
  rec.attempt = 1
  rec.failures = 0
  rec.pendingAt = tonumber(ARGV[2])
  table.insert(batch, taskId)
  table.insert(batch, cjson.encode(rec))
  if #batch >= 1000 then
    rcall('HSET', KEYS[2], unpack(batch))
    batch = {}
  end
end
if #batch > 0 then rcall('HSET', KEYS[2], unpack(batch)) end

rcall('ZADD', KEYS[3], ARGV[2], ARGV[1])
rcall('SADD', KEYS[4], ARGV[1])
return 1
