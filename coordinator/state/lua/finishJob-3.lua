--[[
  Moves a job to a terminal state (succeeded, failed, cancelled). When it fails or is
  cancelled, every task still pending, queued or running becomes 'cancelled' in the same step.

    KEYS[1] job hash     <P>:job:<id>
    KEYS[2] tasks hash   <P>:job:<id>:tasks
    KEYS[3] live set     <P>:jobs:live

    ARGV[1] to-state: succeeded | failed | cancelled
    ARGV[2] allowed from-states, comma-separated (the transition table in job-state.ts)
    ARGV[3] now (ms)
    ARGV[4] extra fields: JSON object of string values (error, version)

  Returns { 1, fromState, 'taskId.attempt', ... } naming the attempts that were queued or running,
  speculative backups included (their queue entries are to be removed and running ones
  cancelled), or, refused, { 0, currentState } ('' when no job).
]]
local to = ARGV[1]
if not is_terminal(to) then return redis.error_reply('finishJob: ' .. to .. ' is not a terminal state') end
local state = rcall('HGET', KEYS[1], 'state')
if not state then return { 0, '' } end
if is_terminal(state) then return { 0, state } end
if not is_allowed(ARGV[2], state) then return { 0, state } end

hset_with_patch(KEYS[1], { 'state', to, 'updated', ARGV[3], 'finished', ARGV[3] }, ARGV[4])
rcall('SREM', KEYS[3], rcall('HGET', KEYS[1], 'id'))

local out = { 1, state }
if to ~= 'succeeded' then
  local all = rcall('HGETALL', KEYS[2])
  for i = 1, #all, 2 do
    local rec = cjson.decode(all[i + 1])
    local s = rec.state
    if s == 'pending' or s == 'queued' or s == 'running' then
      if s ~= 'pending' then table.insert(out, all[i] .. '.' .. rec.attempt) end
      if rec.backup ~= nil then table.insert(out, all[i] .. '.' .. rec.backup) end
      rec.backup = nil
      rec.backupState = nil
      rec.state = 'cancelled'
      rec.cancelledAt = tonumber(ARGV[3])
      rcall('HSET', KEYS[2], all[i], cjson.encode(rec))
    end
  end
end
return out
