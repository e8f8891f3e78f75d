--[[
  Ends a task attempt that will be run again: the task goes back to 'pending' at a new attempt
  number (the scheduler enqueues it when its inputs are ready). If it has used up its attempts it
  becomes 'failed' instead, in the same step. If a speculative backup of the failed attempt is in
  flight, the backup becomes the task's attempt instead (promoted: nothing new is enqueued).

    KEYS[1] tasks hash   <P>:job:<id>:tasks
    KEYS[2] job hash     <P>:job:<id>

    ARGV[1] task id
    ARGV[2] allowed from-states, comma-separated (task-state.ts: retry or rerun)
    ARGV[3] expected attempt (the attempt that failed or whose output was lost)
    ARGV[4] '1' when this counts as a failure of the task, '0' when not its fault (lost map output)
    ARGV[5] max failures (config.taskAttempts)
    ARGV[6] max attempts in all (a bound on uncounted re-runs)
    ARGV[7] now (ms)
    ARGV[8] the attempt's error, a JSON string (kept as lastError)

  A new attempt number is above every number issued before (maxAttempt), backups included, so a
  BullMQ job id is never reused.

  Returns { 1, fromState, newAttempt }, { 3, fromState, promotedAttempt } when a backup was
  promoted, { 2, 'exhausted', failures, attempt } when the task is now 'failed', or
  { 0, reason, currentState, currentAttempt } when refused (as moveTask).
]]
local now = tonumber(ARGV[7])
local rec, refusal = live_task(KEYS[1], KEYS[2], ARGV[1])
if not rec then return refusal end
local state = rec.state
if not is_allowed(ARGV[2], state) then return { 0, 'state', state, rec.attempt } end
if tonumber(ARGV[3]) ~= rec.attempt then return { 0, 'attempt', state, rec.attempt } end

local function save()
  rcall('HSET', KEYS[1], ARGV[1], cjson.encode(rec))
  rcall('HSET', KEYS[2], 'updated', ARGV[7])
end

rec.lastError = ARGV[8]
if ARGV[4] == '1' then rec.failures = (rec.failures or 0) + 1 end
local highest = math.max(rec.attempt, rec.maxAttempt or 0, rec.backup or 0)
if rec.failures >= tonumber(ARGV[5]) or highest >= tonumber(ARGV[6]) then
  rec.state = 'failed'
  rec.error = ARGV[8]
  rec.failedAt = now
  save()
  return { 2, 'exhausted', rec.failures, rec.attempt }
end

if rec.backup ~= nil then
  rec.attempt = rec.backup
  rec.state = rec.backupState or 'queued'
  rec.worker = rec.backupWorker
  rec.queuedAt = rec.backupQueuedAt
  rec.runningAt = rec.backupRunningAt
  rec.speculative = 1
  rec.backup = nil
  rec.backupState = nil
  rec.backupWorker = nil
  rec.backupQueuedAt = nil
  rec.backupRunningAt = nil
  save()
  return { 3, state, rec.attempt }
end

rec.state = 'pending'
rec.attempt = highest + 1
rec.maxAttempt = rec.attempt
rec.speculative = nil
rec.pendingAt = now
rec.worker = nil
rec.output = nil
rec.outputKey = nil
rec.counters = nil
rec.queuedAt = nil
rec.runningAt = nil
rec.succeededAt = nil
save()
return { 1, state, rec.attempt }
