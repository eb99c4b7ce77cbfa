"""Lua scripts of the queue protocol (DESIGN.md): each one is atomic on the server.

Admission checks the limit and enqueues in one step, so two routers cannot both see
room for the last slot. The fence makes "only the current owner of an entry publishes
its reply" hold even when a slow worker and a reclaiming worker race: the first ack
XACKs + XDELs the entry, after which nobody owns it and the second ack is a no-op.

Slots (Redis Cluster): ADMIT, RENEW and DEAD_LETTER take one model's keys only.
FENCED_ACK also takes a router's reply stream, which is in another slot: it runs on one
Redis only; on a cluster ``queue/slotsafe.py`` splits it into a slot-local script and
the reply.
"""

from __future__ import annotations

# Out of memory (maxmemory reached, noeviction): admission (ADMIT, a plain script) is
# refused by Redis, while the scripts that *finish* work carry ``allow-oom``: they free the
# request entry (XACK + XDEL first) and publish its reply, so a full Redis drains instead
# of timing out every admitted request. Replies are bounded (MAXLEN, TTL, routers trim).

# KEYS[1] request stream. ARGV: limit, req_id, reply_to, deadline_ms, payload.
# Returns the entry id, or nil (false) when XLEN >= limit.
ADMIT = """
if redis.call('XLEN', KEYS[1]) >= tonumber(ARGV[1]) then return false end
return redis.call('XADD', KEYS[1], '*', 'req_id', ARGV[2], 'reply_to', ARGV[3],
                  'deadline_ms', ARGV[4], 'payload', ARGV[5])
"""

# KEYS[1] request stream, KEYS[1+i] reply stream of entry i.
# ARGV: group, consumer, reply_ttl_s, then (entry_id, req_id, reply) per entry.
# Returns one flag per entry: 1 published + acked, 0 not ours any more (fenced off).
FENCED_ACK = """#!lua flags=allow-oom
local out = {}
for i = 1, #KEYS - 1 do
  local b = 3 + (i - 1) * 3
  local id = ARGV[b + 1]
  local p = redis.call('XPENDING', KEYS[1], ARGV[1], id, id, 1)
  if #p == 1 and p[1][2] == ARGV[2] then
    redis.call('XACK', KEYS[1], ARGV[1], id)
    redis.call('XDEL', KEYS[1], id)
    local r = KEYS[i + 1]
    redis.call('XADD', r, 'MAXLEN', '~', 100000, '*', 'req_id', ARGV[b + 2], 'reply', ARGV[b + 3])
    if redis.call('TTL', r) < 0 then redis.call('EXPIRE', r, ARGV[3]) end
    out[i] = 1
  else
    out[i] = 0
  end
end
return out
"""

# KEYS[1] request stream. ARGV: group, consumer, ids... Renews the lease (idle time := 0)
# of the entries this consumer still owns, without bumping their delivery count
# (XCLAIM JUSTID). Entries another worker has reclaimed are left alone: never steal back.
RENEW = """
local args = {KEYS[1], ARGV[1], ARGV[2], 0}
for i = 3, #ARGV do
  local p = redis.call('XPENDING', KEYS[1], ARGV[1], ARGV[i], ARGV[i], 1)
  if #p == 1 and p[1][2] == ARGV[2] then table.insert(args, ARGV[i]) end
end
if #args == 4 then return {} end
table.insert(args, 'JUSTID')  -- unpack() must come last in a Lua argument list
return redis.call('XCLAIM', unpack(args))
"""

# KEYS[1] request stream, KEYS[2] dead-letter stream (one model: one slot on a cluster).
# ARGV: group, consumer, entry_id, reason. Copies the entry to the dead letters and acks
# it, only if still ours; returns 1 then, else 0. The caller then answers the client
# (``slotsafe.publish``): a dead letter is rare, so one path serves one Redis and a cluster.
DEAD_LETTER = """#!lua flags=allow-oom
local p = redis.call('XPENDING', KEYS[1], ARGV[1], ARGV[3], ARGV[3], 1)
if #p ~= 1 or p[1][2] ~= ARGV[2] then return 0 end
local e = redis.call('XRANGE', KEYS[1], ARGV[3], ARGV[3])
if #e == 1 then
  local f = e[1][2]
  table.insert(f, 'deliveries'); table.insert(f, tostring(p[1][4]))
  table.insert(f, 'reason'); table.insert(f, ARGV[4])
  redis.call('XADD', KEYS[2], 'MAXLEN', '~', 100000, '*', unpack(f))
end
redis.call('XACK', KEYS[1], ARGV[1], ARGV[3])
redis.call('XDEL', KEYS[1], ARGV[3])
return 1
"""

# KEYS[1] reply stream. ARGV: req_id, reply, reply_ttl_s. One reply, allowed when out of
# memory (after a dead letter, on one Redis): the client is answered even on a full Redis.
PUBLISH_REPLY = """#!lua flags=allow-oom
redis.call('XADD', KEYS[1], 'MAXLEN', '~', 100000, '*', 'req_id', ARGV[1], 'reply', ARGV[2])
if redis.call('TTL', KEYS[1]) < 0 then redis.call('EXPIRE', KEYS[1], ARGV[3]) end
return 1
"""

# KEYS[1] worker heartbeat hash. ARGV: consumer, doc. Allowed when out of memory: a
# worker that still serves must not look dead (one small field per worker).
HEARTBEAT = """#!lua flags=allow-oom
redis.call('HSET', KEYS[1], ARGV[1], ARGV[2])
return 1
"""
