--[[
  Moves one task attempt from one state to another and merges a patch into its record.

    KEYS[1] tasks hash   <P>:job:<id>:tasks
    KEYS[2] job hash     <P>:job:<id>

    ARGV[1] task id
    ARGV[2] to-state
    ARGV[3] allowed from-states, comma-separated (the transition table in task-state.ts)
    ARGV[4] expected attempt, or '' for any: a late answer of an older attempt is refused
    ARGV[5] now (ms), stamped as <to-state>At
    ARGV[6] patch: JSON object of flat values (strings, numbers); null deletes a field

  Refused when the job is missing or terminal (its tasks are frozen), the task is missing,
  in a terminal state (failed, cancelled), not in an allowed state, or at another attempt.
  Returns { 1, fromState, attempt } or { 0, reason, currentState, currentAttempt }.
]]
local rcall = redis.call
local jobState = rcall('HGET', KEYS[2], 'state')
if not jobState then return { 0, 'no-job', '', 0 } end
if jobState == 'succeeded' or jobState == 'failed' or jobState == 'cancelled' then return { 0, 'job-' .. jobState, '', 0 } end
local text = rcall('HGET', KEYS[1], ARGV[1])
if not text then return { 0, 'no-task', '', 0 } end
local rec = cjson.decode(text)
local state = rec.state
if state == 'failed' or state == 'cancelled' then return { 0, 'terminal', state, rec.attempt } end
if not string.find(',' .. ARGV[3] .. ',', ',' .. state .. ',', 1, true) then return { 0, 'state', state, rec.attempt } end
if ARGV[4] ~= '' and tonumber(ARGV[4]) ~= rec.attempt then return { 0, 'attempt', state, rec.attempt } end

for field, value in pairs(cjson.decode(ARGV[6])) do
  if value == cjson.null then rec[field] = nil else rec[field] = value end
end
-- A failure of the task itself (not a lost output) counts, as in retryTask.
if ARGV[2] == 'failed' then rec.failures = (rec.failures or 0) + 1 end
rec.state = ARGV[2]
rec[ARGV[2] .. 'At'] = tonumber(ARGV[5])
rcall('HSET', KEYS[1], ARGV[1], cjson.encode(rec))
rcall('HSET', KEYS[2], 'updated', ARGV[5])
return { 1, state, rec.attempt }
