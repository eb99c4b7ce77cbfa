"""Lua scripts of generation over the queue; each says what it makes atomic.

STEP publishes one engine step for the whole batch in one round trip. Per sequence, the
chunk sent to the router and the progress record (the tokens sent so far) are written
together, and only while this worker still owns the entry: a continuation on another
worker therefore starts exactly after the last token the client was sent, never before
(a repeat) nor after (a gap). The cancel flag is read in the same call.
"""

from __future__ import annotations

# KEYS[1] request stream, KEYS[2] progress hash, KEYS[3] cancel hash, KEYS[3+i] reply
# stream of item i. ARGV: group, consumer, reply_ttl_s, then per item (entry_id, req_id,
# kind, progress, message). kind: "c" chunk (publish + record progress), "f" final
# (publish, ack, forget), "p" probe (ownership and cancel only).
# Returns per item: 0 not ours any more, 1 done, 2 cancelled (acked and forgotten here).
STEP = """
local out = {}
for i = 1, #KEYS - 3 do
  local b = 3 + (i - 1) * 5
  local id, req, kind = ARGV[b + 1], ARGV[b + 2], ARGV[b + 3]
  local p = redis.call('XPENDING', KEYS[1], ARGV[1], id, id, 1)
  if #p ~= 1 or p[1][2] ~= ARGV[2] then
    out[i] = 0
  elseif kind ~= 'f' and redis.call('HEXISTS', KEYS[3], req) == 1 then
    redis.call('XACK', KEYS[1], ARGV[1], id)
    redis.call('XDEL', KEYS[1], id)
    redis.call('HDEL', KEYS[2], req)
    redis.call('HDEL', KEYS[3], req)
    out[i] = 2
  else
    local r = KEYS[3 + i]
    if kind ~= 'p' then
      redis.call('XADD', r, 'MAXLEN', '~', 100000, '*', 'req_id', req, 'reply', ARGV[b + 5])
      if redis.call('TTL', r) < 0 then redis.call('EXPIRE', r, ARGV[3]) end
    end
    if kind == 'c' then
      redis.call('HSET', KEYS[2], req, ARGV[b + 4])
    elseif kind == 'f' then
      redis.call('XACK', KEYS[1], ARGV[1], id)
      redis.call('XDEL', KEYS[1], id)
      redis.call('HDEL', KEYS[2], req)
      redis.call('HDEL', KEYS[3], req)
    end
    out[i] = 1
  end
end
return out
"""

# KEYS[1] request stream. ARGV: group, consumer, entry ids... For each entry this worker
# still owns: add a copy at the tail of the stream and ack + delete the original, in one
# step, so a draining worker hands a sequence over without waiting for the reaper and
# without spending one of its deliveries. Returns the new entry ids ("" where not ours).
HANDOVER = """
local out = {}
for i = 3, #ARGV do
  local id = ARGV[i]
  local p = redis.call('XPENDING', KEYS[1], ARGV[1], id, id, 1)
  local e = redis.call('XRANGE', KEYS[1], id, id)
  if #p == 1 and p[1][2] == ARGV[2] and #e == 1 then
    out[i - 2] = redis.call('XADD', KEYS[1], '*', unpack(e[1][2]))
    redis.call('XACK', KEYS[1], ARGV[1], id)
    redis.call('XDEL', KEYS[1], id)
  else
    out[i - 2] = ''
  end
end
return out
"""
