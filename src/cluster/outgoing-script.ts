/**
 * The one Lua script behind src/cluster/outgoing-store.ts: a batch of queue operations on one
 * or more sessions' queues, applied in order, atomically.
 *
 * KEYS: each session's list key `oq:{<client id>}` once (its `:p` and `:m` hashes are derived
 * here; they share the hash tag, so the same Redis Cluster slot).
 * ARGV: the number B of shared message blobs, the B blobs, then the operations, each
 * `<op> <KEYS index> <args...>`:
 *   e ref blobIndex        enqueue: store the session's copy once, append the ref (a repeat is ignored)
 *   u ref packetId         sent with this packet id (only while the message is still queued)
 *   r packetId ref|'' blob PUBREC received: the entry becomes this PUBREL (ref looked up by id if '')
 *   c packetId ref|'' 0|1  PUBACK / PUBCOMP: drop the entry (ref by id, else the given one);
 *                          with 1 the stored packet is returned too
 * Reply: one element per operation: e/u → 0/1, r → ref or nil, c → {ref, removed 0/1, packet|nil} or nil.
 */
export const OUTGOING_OPS_LUA = `
local nblobs = tonumber(ARGV[1])
local a = nblobs + 2
local out = {}
local n = #ARGV
while a <= n do
  local op, list = ARGV[a], KEYS[tonumber(ARGV[a + 1])]
  local pk, mk = list .. ':p', list .. ':m'
  if op == 'e' then
    local ref = ARGV[a + 2]
    if redis.call('HSETNX', pk, ref, ARGV[tonumber(ARGV[a + 3]) + 1]) == 1 then
      redis.call('RPUSH', list, ref)
    end
    out[#out + 1] = 0
    a = a + 4
  elseif op == 'u' then
    local ref, mid = ARGV[a + 2], ARGV[a + 3]
    if redis.call('HEXISTS', pk, ref) == 1 then
      redis.call('HSET', mk, '#' .. mid, ref, '@' .. ref, mid)
      out[#out + 1] = 1
    else
      out[#out + 1] = 0
    end
    a = a + 4
  elseif op == 'r' then
    local mid, ref = ARGV[a + 2], ARGV[a + 3]
    if ref == '' then ref = redis.call('HGET', mk, '#' .. mid) end
    if ref then
      if redis.call('HEXISTS', pk, ref) == 0 then redis.call('RPUSH', list, ref) end
      redis.call('HSET', pk, ref, ARGV[a + 4])
      redis.call('HSET', mk, '#' .. mid, ref, '@' .. ref, mid)
      out[#out + 1] = ref
    else
      out[#out + 1] = false
    end
    a = a + 5
  elseif op == 'c' then
    local mid = ARGV[a + 2]
    local ref = redis.call('HGET', mk, '#' .. mid)
    if not ref then ref = ARGV[a + 3] end
    if ref == '' then
      out[#out + 1] = false
    else
      local pkt = false
      if ARGV[a + 4] == '1' then pkt = redis.call('HGET', pk, ref) end
      local had = redis.call('HDEL', pk, ref)
      redis.call('HDEL', mk, '#' .. mid, '@' .. ref)
      if had == 1 then redis.call('LREM', list, 1, ref) end
      out[#out + 1] = { ref, had, pkt }
    end
    a = a + 5
  else
    return redis.error_reply('unknown outgoing op ' .. tostring(op))
  end
end
return out`
