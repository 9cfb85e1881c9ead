/**
 * The one Lua script behind src/cluster/outgoing-store.ts: a batch of queue operations on one
 * or more sessions' queues, applied in order, atomically.
 *
 * KEYS: each session's list key `oq:{<client id>}` once (its `:p` hash, and the `:m` hash an
 * older layout kept the packet ids in, are derived here; they share the hash tag, so the same
 * Redis Cluster slot).
 * ARGV: the number B of shared message blobs, the B blobs, then the operations, each
 * `<op><KEYS index> <args...>` (the op letter and the key's index in one argument: every
 * argument is parsed by Redis and built by the client, and a QoS 1 delivery costs two operations):
 *   e ref blobIndex        enqueue: store the session's copy once, append the ref (a repeat is ignored)
 *   u ref packetId         sent with this packet id (only while the message is still queued)
 *   r packetId ref|'' blob PUBREC received: the entry becomes this PUBREL (ref looked up by id if '')
 *   c packetId ref|''      PUBACK / PUBCOMP: drop the entry (the given ref, else the one stored
 *                          under the packet id); `C`: the same, and the stored packet is returned too
 *   k ref                  PUBACK of a QoS 1 delivery whose `u` was never sent (the pod held it back
 *                          and the acknowledgement cancelled it): drop the entry; no ids to delete
 *   m                      move an older layout's ids into `:p` (before a replay reads them)
 *   l                      `m`, then the queue's refs in order (a replay's first read: the
 *                          sessions resuming in one event-loop turn read their queues in one call)
 * Reply: one element per operation: e/u/m → 0/1, r → ref or nil, c/C with a ref and k → 0/1 (removed),
 * c/C without → {ref, removed 0/1, packet|nil} or nil, l → the refs (an empty table: none).
 *
 * The packet ids live in the `:p` hash beside the messages (`#<id>` → ref, `@<ref>` → id): one
 * HSET per sent message, two HDELs per acknowledgement (the message; its ids), in a hash that is
 * a hashtable once a message is in it (a stored message is usually longer than Redis' listpack
 * value limit), where a separate hash of short ids stayed a listpack searched linearly. The ids
 * an older version left in `:m` are read where an id is looked up (a PUBACK or PUBREC whose ref
 * the pod does not know) and moved into `:p` by `m` before a replay, without those of messages
 * no longer stored; no per-batch check, so the usual operations cost what they did.
 */
export const OUTGOING_OPS_LUA = `
local nblobs = tonumber(ARGV[1])
local a = nblobs + 2
local out = {}
local n = #ARGV
local function idRef (list, pk, mid)
  local ref = redis.call('HGET', pk, '#' .. mid)
  if not ref then ref = redis.call('HGET', list .. ':m', '#' .. mid) end
  return ref
end
while a <= n do
  local tok = ARGV[a]
  local op, list = string.sub(tok, 1, 1), KEYS[tonumber(string.sub(tok, 2))]
  local pk = list .. ':p'
  if op == 'e' then
    local ref = ARGV[a + 1]
    if redis.call('HSETNX', pk, ref, ARGV[tonumber(ARGV[a + 2]) + 1]) == 1 then
      redis.call('RPUSH', list, ref)
    end
    out[#out + 1] = 0
    a = a + 3
  elseif op == 'u' then
    local ref, mid = ARGV[a + 1], ARGV[a + 2]
    if redis.call('HEXISTS', pk, ref) == 1 then
      redis.call('HSET', pk, '#' .. mid, ref, '@' .. ref, mid)
      out[#out + 1] = 1
    else
      out[#out + 1] = 0
    end
    a = a + 3
  elseif op == 'r' then
    local mid, ref = ARGV[a + 1], ARGV[a + 2]
    if ref == '' then ref = idRef(list, pk, mid) end
    if ref then
      if redis.call('HEXISTS', pk, ref) == 0 then redis.call('RPUSH', list, ref) end
      redis.call('HSET', pk, ref, ARGV[a + 3], '#' .. mid, ref, '@' .. ref, mid)
      out[#out + 1] = ref
    else
      out[#out + 1] = false
    end
    a = a + 4
  elseif op == 'c' or op == 'C' then
    local mid, ref = ARGV[a + 1], ARGV[a + 2]
    local given = ref ~= ''
    if not given then ref = idRef(list, pk, mid) end
    if not ref then
      out[#out + 1] = false
    else
      local pkt = false
      if op == 'C' then pkt = redis.call('HGET', pk, ref) end
      local had = redis.call('HDEL', pk, ref)
      redis.call('HDEL', pk, '#' .. mid, '@' .. ref)
      if had == 1 then redis.call('LREM', list, 1, ref) end
      if given then out[#out + 1] = had else out[#out + 1] = { ref, had, pkt } end
    end
    a = a + 3
  elseif op == 'k' then
    local ref = ARGV[a + 1]
    local had = redis.call('HDEL', pk, ref)
    if had == 1 then redis.call('LREM', list, 1, ref) end
    out[#out + 1] = had
    a = a + 2
  elseif op == 'm' or op == 'l' then
    local mk = list .. ':m'
    local legacy = redis.call('HGETALL', mk)
    for i = 1, #legacy, 2 do
      local field, value = legacy[i], legacy[i + 1]
      local ref = value
      if string.sub(field, 1, 1) == '@' then ref = string.sub(field, 2) end
      if redis.call('HEXISTS', pk, ref) == 1 then redis.call('HSETNX', pk, field, value) end
    end
    if #legacy > 0 then redis.call('DEL', mk) end
    if op == 'l' then out[#out + 1] = redis.call('LRANGE', list, 0, -1) else out[#out + 1] = 0 end
    a = a + 1
  else
    return redis.error_reply('unknown outgoing op ' .. tostring(op))
  end
end
return out`
