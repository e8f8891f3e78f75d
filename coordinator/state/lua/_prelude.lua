-- Shared by every job-state script: core/redis/lua-scripts.ts puts this file in front of each.
local rcall = redis.call

local function is_terminal(state)
  return state == 'succeeded' or state == 'failed' or state == 'cancelled'
end

-- Whether `state` is in a comma-separated list of states (a transition table's from-states).
local function is_allowed(list, state)
  return string.find(',' .. list .. ',', ',' .. state .. ',', 1, true) ~= nil
end

-- The task record of a job that is not finished, or nil and the refusal { 0, reason, state, attempt }.
local function live_task(tasksKey, jobKey, taskId)
  local jobState = rcall('HGET', jobKey, 'state')
  if not jobState then return nil, { 0, 'no-job', '', 0 } end
  if is_terminal(jobState) then return nil, { 0, 'job-' .. jobState, '', 0 } end
  local text = rcall('HGET', tasksKey, taskId)
  if not text then return nil, { 0, 'no-task', '', 0 } end
  local rec = cjson.decode(text)
  if rec.state == 'failed' or rec.state == 'cancelled' then return nil, { 0, 'terminal', rec.state, rec.attempt } end
  return rec
end

-- HSET of `args` plus every field of a JSON patch object (never 'state' or 'id').
local function hset_with_patch(key, args, patchJson)
  for field, value in pairs(cjson.decode(patchJson)) do
    if field ~= 'state' and field ~= 'id' then
      table.insert(args, field)
      table.insert(args, value)
    end
  end
  rcall('HSET', key, unpack(args))
end

