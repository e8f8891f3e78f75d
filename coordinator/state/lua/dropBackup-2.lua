--[[
  Forgets a task's speculative backup attempt that failed or vanished from the queue: the primary
  attempt carries on alone (and is not speculated on again).

    KEYS[1] tasks hash   <P>:job:<id>:tasks
    KEYS[2] job hash     <P>:job:<id>

    ARGV[1] task id
    ARGV[2] the backup attempt
    ARGV[3] now (ms)
    ARGV[4] its error, a JSON string (kept as lastError), or ''

  Returns 1, or 0 when that attempt is not the task's backup (any more).
]]
local jobState = rcall('HGET', KEYS[2], 'state')
if not jobState or is_terminal(jobState) then return 0 end
local text = rcall('HGET', KEYS[1], ARGV[1])
if not text then return 0 end
local rec = cjson.decode(text)
if rec.backup == nil or rec.backup ~= tonumber(ARGV[2]) then return 0 end
rec.backup = nil
rec.backupState = nil
rec.backupWorker = nil
rec.backupQueuedAt = nil
rec.backupRunningAt = nil
if ARGV[4] ~= '' then rec.lastError = ARGV[4] end
rcall('HSET', KEYS[1], ARGV[1], cjson.encode(rec))
rcall('HSET', KEYS[2], 'updated', ARGV[3])
return 1
