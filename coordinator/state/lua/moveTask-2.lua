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

  The expected attempt may also be the task's speculative backup (rec.backup) for start,
  stall and succeed ('running', 'queued' from running, 'succeeded'): start and stall then
  update the backup's own fields; succeed makes the backup the task's attempt (it won). A
  succeed (or a fail) of the primary while a backup is in flight names the backup as the loser,
  and a winning backup names the primary.

  Returns { 1, fromState, attempt, loser } (loser 0 when none) or
  { 0, reason, currentState, currentAttempt }.
]]
local now = tonumber(ARGV[5])
local to = ARGV[2]
local rec, refusal = live_task(KEYS[1], KEYS[2], ARGV[1])
if not rec then return refusal end
local state = rec.state
if not is_allowed(ARGV[3], state) then return { 0, 'state', state, rec.attempt } end

local patch = cjson.decode(ARGV[6])
local function apply()
  for field, value in pairs(patch) do
    if value == cjson.null then rec[field] = nil else rec[field] = value end
  end
end
local function clearBackup()
  rec.backup = nil
  rec.backupState = nil
  rec.backupWorker = nil
  rec.backupQueuedAt = nil
  rec.backupRunningAt = nil
end
local function save()
  rcall('HSET', KEYS[1], ARGV[1], cjson.encode(rec))
  rcall('HSET', KEYS[2], 'updated', ARGV[5])
end

local expected = tonumber(ARGV[4])
if expected and expected ~= rec.attempt then
  -- Not the current attempt: only the backup in flight may still be heard from. (A backup exists
  -- only while the primary is queued or running, so 'queued' here is a stall, never an enqueue:
  -- enqueue's from-state, pending, was refused above.)
  if rec.backup == nil or expected ~= rec.backup or (to ~= 'running' and to ~= 'queued' and to ~= 'succeeded') then
    return { 0, 'attempt', state, rec.attempt }
  end
  if to == 'running' then
    rec.backupState = 'running'
    rec.backupRunningAt = now
    if type(patch.worker) == 'string' then rec.backupWorker = patch.worker end
    save()
    return { 1, state, expected, 0 }
  end
  if to == 'queued' then
    rec.backupState = 'queued'
    rec.stalls = (rec.stalls or 0) + 1
    save()
    return { 1, state, expected, 0 }
  end
  -- The backup won: it becomes the task's attempt, with its own times.
  local loser = rec.attempt
  rec.attempt = expected
  rec.queuedAt = rec.backupQueuedAt
  rec.runningAt = rec.backupRunningAt
  rec.worker = rec.backupWorker
  rec.speculative = 1
  clearBackup()
  apply()
  rec.state = 'succeeded'
  rec.succeededAt = now
  save()
  return { 1, state, expected, loser }
end

local loser = 0
apply()
-- A failure of the task itself (not a lost output) counts, as in retryTask.
if to == 'failed' then rec.failures = (rec.failures or 0) + 1 end
if to == 'queued' and state == 'running' then rec.stalls = (rec.stalls or 0) + 1 end
if (to == 'succeeded' or to == 'failed') and rec.backup ~= nil then
  loser = rec.backup
  clearBackup()
end
rec.state = to
rec[to .. 'At'] = now
save()
return { 1, state, rec.attempt, loser }
