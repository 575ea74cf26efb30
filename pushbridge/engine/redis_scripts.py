"""The Lua scripts that keep a cluster's shared state in Redis, each run atomically by Redis.

Atomicity is what makes webhooks go out once per cluster: when two nodes get the first
subscriber of a channel at the same moment, Redis runs their scripts one after the other, and
only the script that moves the channel's node count from 0 to 1 reports ``channel_occupied``.
The node that ran it sends that webhook. The same holds for ``channel_vacated`` and for a
presence member's first and last node (``member_added``, ``member_removed``).

Shared state (names under the prefix, see :class:`~.cluster_wire.Keys`):

* ``nodes``: sorted set, node id -> deadline (Unix ms, Redis's clock). A node's heartbeat
  pushes its deadline forward; any node's heartbeat reaps the nodes past theirs.
* ``node:{id}:{app}:subs`` / ``node:{id}:{app}:members`` / ``node:{id}:conns``: what each node
  holds, so that whoever reaps a dead node knows what it leaves behind (and a node that starts
  later can read what the others hold).
* ``app:{app}:occupied`` (channel -> nodes holding it) and ``app:{app}:members``
  (``channel\\nuser_id`` -> nodes holding that member): the cluster-wide counts behind the
  webhooks.
* ``reads``: hash, node id -> the message kinds it reads, written with its place in ``nodes``
  (nodes of releases before batches write none); ``legacy``: set for a while after a live
  node without ``pubs`` there was seen (see :data:`PUBLISH_EVENTS`).

Scripts are standalone-Redis scripts (they build key names inside), not Redis Cluster ones.
Every script returns webhooks as a JSON array of ``[app_id, name, channel, user_id?]``.
"""

from __future__ import annotations

_COMMON = """
local p = ARGV[1]
local function now_ms()
  local t = redis.call('TIME')
  return tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
end
local function ms(x) return string.format('%.0f', x) end
local function node_key(node, app, what) return p .. ':node:' .. node .. ':' .. app .. ':' .. what end
local function app_key(app, what) return p .. ':app:' .. app .. ':' .. what end
local function split(field)
  local at = string.find(field, '\\n', 1, true)
  return string.sub(field, 1, at - 1), string.sub(field, at + 1)
end
-- A node stops holding a member / a channel: the cluster loses it with its last node.
local function release_member(app, field, hooks)
  if redis.call('HINCRBY', app_key(app, 'members'), field, -1) <= 0 then
    redis.call('HDEL', app_key(app, 'members'), field)
    local channel, user = split(field)
    hooks[#hooks + 1] = {app, 'member_removed', channel, user}
  end
end
local function release_channel(app, channel, hooks)
  if redis.call('HINCRBY', app_key(app, 'occupied'), channel, -1) <= 0 then
    redis.call('HDEL', app_key(app, 'occupied'), channel)
    hooks[#hooks + 1] = {app, 'channel_vacated', channel}
  end
end
-- Release what a node holds of an app, except what ``kept`` names (fields and channels):
-- members first, so that member_removed comes before its channel's channel_vacated.
local function release_all(node, app, kept, hooks)
  for _, part in ipairs({{'members', release_member}, {'subs', release_channel}}) do
    local key, release = node_key(node, app, part[1]), part[2]
    for _, name in ipairs(redis.call('HKEYS', key)) do
      if not kept[name] then
        redis.call('HDEL', key, name)
        release(app, name, hooks)
      end
    end
  end
end
local function forget(node, hooks)
  local apps_key = p .. ':node:' .. node .. ':apps'
  for _, app in ipairs(redis.call('SMEMBERS', apps_key)) do
    release_all(node, app, {}, hooks)
  end
  redis.call('DEL', apps_key, p .. ':node:' .. node .. ':conns')
  redis.call('ZREM', p .. ':nodes', node)
  redis.call('HDEL', p .. ':reads', node)
  redis.call('PUBLISH', p .. ':bus', '["gone",' .. cjson.encode(node) .. ']\\n')
end
-- Whether every live node reads batches ('pubs' among the kinds it advertises). Once a node
-- that does not is seen, batches stay off for linger_ms more: a node of an older release
-- that was reaped while it hung (and still listens) is back in the live set only at its
-- next heartbeat.
local function all_read_batches(linger_ms)
  local live = redis.call('ZRANGE', p .. ':nodes', 0, -1)
  local all = true
  if #live > 0 then
    local reads = redis.call('HMGET', p .. ':reads', unpack(live))
    for i = 1, #live do
      if not reads[i] or not string.find(' ' .. reads[i] .. ' ', ' pubs ', 1, true) then
        all = false
        break
      end
    end
  end
  if not all then
    redis.call('SET', p .. ':legacy', '1', 'PX', linger_ms)
    return false
  end
  return redis.call('EXISTS', p .. ':legacy') == 0
end
local function encode_hooks(hooks)
  if #hooks == 0 then return '[]' end
  return cjson.encode(hooks)
end
"""

#: ARGV: prefix, node, ttl_ms, the kinds the node reads. Registers the node (or renews it)
#: and drops what ``reads`` still says of nodes no longer live; returns nothing useful.
JOIN = (
    _COMMON
    + """
redis.call('ZADD', p .. ':nodes', ms(now_ms() + tonumber(ARGV[3])), ARGV[2])
redis.call('HSET', p .. ':reads', ARGV[2], ARGV[4])
for _, node in ipairs(redis.call('HKEYS', p .. ':reads')) do
  if not redis.call('ZSCORE', p .. ':nodes', node) then redis.call('HDEL', p .. ':reads', node) end
end
return 1
"""
)

#: ARGV: prefix, node, ttl_ms, the kinds the node reads, linger_ms. Renews the node's
#: deadline (and what it reads), reaps every node past its own and looks whether every live
#: node reads batches (so that ``legacy`` stays set while one does not, even when no batch is
#: sent). Returns ``{alive, hooks}``: ``alive`` 0 when this node had itself been reaped (it
#: must announce its state again).
HEARTBEAT = (
    _COMMON
    + """
local node = ARGV[2]
local now = now_ms()
local alive = 1
if not redis.call('ZSCORE', p .. ':nodes', node) then alive = 0 end
redis.call('ZADD', p .. ':nodes', ms(now + tonumber(ARGV[3])), node)
redis.call('HSET', p .. ':reads', node, ARGV[4])
local hooks = {}
for _, dead in ipairs(redis.call('ZRANGEBYSCORE', p .. ':nodes', '-inf', ms(now))) do
  if dead ~= node then forget(dead, hooks) end
end
all_read_batches(ARGV[5])
return {alive, encode_hooks(hooks)}
"""
)

#: ARGV: prefix, node, app_id, the node's connections of that app, ops (JSON), message, reset
#: ('1': the ops are the node's whole state for the app, and replace what Redis holds of it).
#: Applies one node's changes in order, publishes ``message`` (the same changes, for the
#: other nodes' views) and returns the webhooks they cause; ``-1`` if the node had been reaped
#: (nothing applied: it must announce its whole state again).
SYNC = (
    _COMMON
    + """
local node, app = ARGV[2], ARGV[3]
if not redis.call('ZSCORE', p .. ':nodes', node) then return -1 end
redis.call('SADD', p .. ':node:' .. node .. ':apps', app)
local subs, members = node_key(node, app, 'subs'), node_key(node, app, 'members')
local hooks = {}
local ops = cjson.decode(ARGV[5])
if ARGV[7] == '1' then
  -- The ops are the node's whole state: first release what it held and holds no more (what
  -- it still holds is applied below as unchanged, without webhooks).
  local kept = {}
  for _, op in ipairs(ops) do
    if op[1] == 'c' then kept[op[2]] = true elseif op[1] == '+' then kept[op[2] .. '\\n' .. op[3]] = true end
  end
  release_all(node, app, kept, hooks)
end
for _, op in ipairs(ops) do
  local kind, channel = op[1], op[2]
  if kind == 'c' then
    local old = tonumber(redis.call('HGET', subs, channel) or '0')
    local count = tonumber(op[3])
    if count > 0 then
      redis.call('HSET', subs, channel, ms(count))
    else
      redis.call('HDEL', subs, channel)
    end
    if old == 0 and count > 0 then
      if redis.call('HINCRBY', app_key(app, 'occupied'), channel, 1) == 1 then
        hooks[#hooks + 1] = {app, 'channel_occupied', channel}
      end
    elseif old > 0 and count == 0 then
      release_channel(app, channel, hooks)
    end
  else
    local field = channel .. '\\n' .. op[3]
    if kind == '+' then
      if redis.call('HSET', members, field, op[4]) == 1 then
        if redis.call('HINCRBY', app_key(app, 'members'), field, 1) == 1 then
          hooks[#hooks + 1] = {app, 'member_added', channel, op[3]}
        end
      end
    elseif redis.call('HDEL', members, field) == 1 then
      release_member(app, field, hooks)
    end
  end
end
redis.call('HSET', p .. ':node:' .. node .. ':conns', app, ARGV[4])
redis.call('PUBLISH', p .. ':bus', ARGV[6])
return encode_hooks(hooks)
"""
)

#: ARGV: prefix, node. The node leaves cleanly: whatever it still holds is released, as if
#: it had been reaped. Returns the webhooks that causes.
LEAVE = (
    _COMMON
    + """
local hooks = {}
forget(ARGV[2], hooks)
return encode_hooks(hooks)
"""
)

#: ARGV: prefix, linger_ms, a ``pubs`` message. Publishes the message if every live node
#: reads batches; otherwise publishes each of its events as the ``pub`` message every
#: release reads, in order. Deciding inside Redis is what makes a rolling upgrade lose
#: nothing: a node registers (``JOIN``) before it listens, so every batch published after it
#: started listening was decided knowing it. Returns 1 (one message) or 0 (one per event).
PUBLISH_EVENTS = (
    _COMMON
    + """
local message = ARGV[3]
local bus = p .. ':bus'
if all_read_batches(ARGV[2]) then
  redis.call('PUBLISH', bus, message)
  return 1
end
local newline = string.find(message, '\\n', 1, true)
local header = cjson.decode(string.sub(message, 1, newline - 1))
local start = newline + 1
for _, entry in ipairs(header[4]) do
  local stop = string.find(message, '\\n', start, true) or (#message + 1)
  local frame = string.sub(message, start, stop - 1)
  start = stop + 1
  local pub = cjson.encode({'pub', header[2], header[3], entry[1], entry[2], entry[3]})
  redis.call('PUBLISH', bus, pub .. '\\n' .. frame)
end
return 0
"""
)
