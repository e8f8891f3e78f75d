--[[
  Numbers a speed commit of one dataset, gives it its realtime bucket from Redis's clock, records
  it in flight and returns the realtime views that must fold it: one atomic step, so "which views
  fold this commit" and "which batch reads it" are decided together with its id.

    KEYS[1] seq        <p>:speed:<ds>:seq        INCR → commit id
    KEYS[2] sealed     <p>:speed:<ds>:sealed     highest sealed bucket (absent = -1)
    KEYS[3] inflight   <p>:speed:<ds>:inflight   hash commit id → CommitRecord JSON
    KEYS[4] views      <p>:realtime:views        hash view → registration JSON ({ view, dataset, … })
    KEYS[5] datasets   <p>:speed:datasets        set of datasets that ever had a speed commit
    KEYS[6] leader     <p>:speed:leader          the speed lease

    ARGV[1] dataset
    ARGV[2] bucketMs
    ARGV[3] planned segments: JSON array of { date, seq, sha256 } (stored as given)
    ARGV[4] number of records in the commit
    ARGV[5] the caller's lease token, or '' to skip the check

  Returns { id, bucket, startedAt (ms), registration JSON… } or { -1, holder } when the caller
  does not hold the lease (nothing is written).
]]
local rcall = redis.call
if ARGV[5] ~= '' then
  local holder = rcall('GET', KEYS[6])
  if holder ~= ARGV[5] then return { -1, holder or '' } end
end

local t = rcall('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local bucket = math.floor(now / tonumber(ARGV[2]))
local sealed = tonumber(rcall('GET', KEYS[2]) or '-1')
if bucket <= sealed then bucket = sealed + 1 end
local id = rcall('INCR', KEYS[1])

local regs = {}
local names = {}
local all = rcall('HGETALL', KEYS[4])
for i = 1, #all, 2 do
  local ok, reg = pcall(cjson.decode, all[i + 1])
  if ok and type(reg) == 'table' and reg.dataset == ARGV[1] then
    names[#names + 1] = all[i]
    regs[#regs + 1] = all[i + 1]
  end
end

-- Built by hand: cjson writes an empty array as {}.
local views = '[]'
if #names > 0 then views = cjson.encode(names) end
local record = '{"id":' .. id .. ',"dataset":' .. cjson.encode(ARGV[1]) ..
  ',"bucket":' .. string.format('%.0f', bucket) .. ',"startedAt":' .. string.format('%.0f', now) ..
  ',"records":' .. string.format('%.0f', tonumber(ARGV[4])) .. ',"planned":' .. ARGV[3] ..
  ',"views":' .. views .. ',"staged":false,"copies":[]}'
rcall('HSET', KEYS[3], id, record)
rcall('SADD', KEYS[5], ARGV[1])

local out = { id, bucket, now }
for i = 1, #regs do out[#out + 1] = regs[i] end
return out
