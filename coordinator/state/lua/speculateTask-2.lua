--[[
  Gives a running task a speculative backup: a second attempt, with the next free attempt number,
  that the scheduler then puts on the queue beside the first. Whichever succeeds first wins
  (moveTask). At most one backup at a time, and at most one per primary attempt.

    KEYS[1] tasks hash   <P>:job:<id>:tasks
    KEYS[2] job hash     <P>:job:<id>

    ARGV[1] task id
    ARGV[2] the running (primary) attempt the backup is for
    ARGV[3] now (ms)

  Returns { 1, backupAttempt } or { 0, reason, currentState, currentAttempt } when refused: the
  job is missing or terminal, the task is not running at that attempt, it already has a backup,
  or that attempt already had one.
]]
local jobState = rcall('HGET', KEYS[2], 'state')
if not jobState then return { 0, 'no-job', '', 0 } end
if jobState ~= 'mapping' and jobState ~= 'reducing' then return { 0, 'job-' .. jobState, '', 0 } end
local text = rcall('HGET', KEYS[1], ARGV[1])
if not text then return { 0, 'no-task', '', 0 } end
local rec = cjson.decode(text)
if rec.state ~= 'running' then return { 0, 'state', rec.state, rec.attempt } end
if tonumber(ARGV[2]) ~= rec.attempt then return { 0, 'attempt', rec.state, rec.attempt } end
if rec.backup ~= nil then return { 0, 'has-backup', rec.state, rec.attempt } end
if rec.speculatedFor == rec.attempt then return { 0, 'speculated', rec.state, rec.attempt } end

local backup = math.max(rec.attempt, rec.maxAttempt or 0) + 1
rec.backup = backup
rec.maxAttempt = backup
rec.backupState = 'queued'
rec.backupQueuedAt = tonumber(ARGV[3])
rec.speculatedFor = rec.attempt
rec.speculations = (rec.speculations or 0) + 1
rcall('HSET', KEYS[1], ARGV[1], cjson.encode(rec))
rcall('HSET', KEYS[2], 'updated', ARGV[3])
return { 1, backup }
