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
local state = rcall('HGET', KEYS[1], 'state')
if not state then return { 0, '' } end
-- A terminal state is never left, whatever the caller's table says.
if is_terminal(state) then return { 0, state } end
if is_terminal(ARGV[1]) then return { 0, state } end
if not is_allowed(ARGV[2], state) then return { 0, state } end

hset_with_patch(KEYS[1], { 'state', ARGV[1], 'updated', ARGV[3] }, ARGV[4])
return { 1, state }
