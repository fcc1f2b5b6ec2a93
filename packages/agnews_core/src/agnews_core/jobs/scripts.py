"""The Lua scripts behind JobStore: each state change checks the current state and moves it in one step.

KEYS follow JobStore._keys: [job hash, running set, queued set] unless a script says otherwise.
"""

CREATE = """
if KEYS[3] ~= '' then
  local existing = redis.call('GET', KEYS[3])
  if existing and redis.call('EXISTS', ARGV[5] .. existing) == 1 then return existing end
  redis.call('SET', KEYS[3], ARGV[1], 'EX', ARGV[4])
end
redis.call('HSET', KEYS[1], unpack(ARGV, 6))
redis.call('EXPIRE', KEYS[1], ARGV[3])
redis.call('ZADD', KEYS[2], ARGV[2], ARGV[1])
redis.call('ZADD', KEYS[4], ARGV[2], ARGV[1])
return ARGV[1]
"""

# Keep the running set (KEYS[2]) and the queued set (KEYS[3], scored by when it was queued) in step with a
# job's new state (field pairs from ARGV[first]).
TRACK_RUNNING = """
local function track(first)
  for i = first, #ARGV - 1, 2 do
    if ARGV[i] == 'state' then
      local id = redis.call('HGET', KEYS[1], 'id')
      if ARGV[i + 1] == 'running' then redis.call('SADD', KEYS[2], id) else redis.call('SREM', KEYS[2], id) end
      if ARGV[i + 1] == 'queued' then
        redis.call('ZADD', KEYS[3], redis.call('TIME')[1], id)
      else
        redis.call('ZREM', KEYS[3], id)
      end
    end
  end
end
"""

# Apply field updates only while the job is in one of the allowed states (ARGV[1], comma separated).
# ARGV[2] == '1' also counts an attempt and keeps the first started_at (ARGV[3]).
TRANSITION = (
    TRACK_RUNNING
    + """
local state = redis.call('HGET', KEYS[1], 'state')
if not state then return -1 end
for allowed in string.gmatch(ARGV[1], '[^,]+') do
  if allowed == state then
    if ARGV[2] == '1' then
      redis.call('HINCRBY', KEYS[1], 'attempts', 1)
      if redis.call('HGET', KEYS[1], 'started_at') == '' then redis.call('HSET', KEYS[1], 'started_at', ARGV[3]) end
    end
    if #ARGV > 3 then redis.call('HSET', KEYS[1], unpack(ARGV, 4)) end
    track(4)
    return 1
  end
end
return 0
"""
)

# Cancel a queued or running job, unless it committed (ARGV: finished_at). 1 done, 0 finished, 2 committed.
CANCEL = """
local state = redis.call('HGET', KEYS[1], 'state')
if not state then return -1 end
if state ~= 'queued' and state ~= 'running' then return 0 end
if redis.call('HGET', KEYS[1], 'phase') == 'committed' then return 2 end
redis.call('HSET', KEYS[1], 'state', 'cancelled', 'cancel', '1', 'finished_at', ARGV[1],
  'progress_message', 'cancelled')
redis.call('SREM', KEYS[2], redis.call('HGET', KEYS[1], 'id'))
redis.call('ZREM', KEYS[3], redis.call('HGET', KEYS[1], 'id'))
return 1
"""

# A running, uncancelled job takes the point of no return (its result becomes visible next).
COMMIT = """
if redis.call('HGET', KEYS[1], 'state') ~= 'running' or redis.call('HGET', KEYS[1], 'cancel') == '1' then return 0 end
redis.call('HSET', KEYS[1], 'phase', 'committed')
return 1
"""

# A running job whose lease is gone (KEYS[4]): re-queue it (1) or, after ARGV[1] attempts, fail it (2).
REAP = """
local state = redis.call('HGET', KEYS[1], 'state')
if not state then redis.call('SREM', KEYS[2], ARGV[4]) return -1 end
if state ~= 'running' then redis.call('SREM', KEYS[2], ARGV[4]) return 0 end
if redis.call('EXISTS', KEYS[4]) == 1 then return 0 end
redis.call('SREM', KEYS[2], ARGV[4])
local attempts = tonumber(redis.call('HGET', KEYS[1], 'attempts') or '0')
if attempts >= tonumber(ARGV[1]) then
  redis.call('HSET', KEYS[1], 'state', 'failed', 'finished_at', ARGV[2], 'progress_message', 'failed',
    'error', 'its worker was lost ' .. attempts .. ' times (lease expired each time); gave up after '
      .. ARGV[1] .. ' attempts')
  return 2
end
redis.call('HSET', KEYS[1], 'state', 'queued', 'progress_message', ARGV[3])
redis.call('ZADD', KEYS[3], redis.call('TIME')[1], ARGV[4])
return 1
"""

RENEW = """
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('PEXPIRE', KEYS[1], ARGV[2]) end
return 0
"""

RELEASE = """
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end
return 0
"""
