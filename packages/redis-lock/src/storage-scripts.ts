import { createHash } from 'node:crypto';
import type { LuaScript } from './scripts.js';

function script(source: string): LuaScript {
  return { source, sha: createHash('sha1').update(source).digest('hex') };
}

/**
 * Storage write: compare-and-swap on the hash field `v`. KEYS: value hash, key index, version
 * counter, watched prefixes. ARGV: mode (`any` | `absent` | `match`), expected version, bytes,
 * durable key, writer id, watch channel prefix. Returns `{1, version}` when written, `{0, current
 * version or ""}` on a failed condition. A script resent with the same writer id after it already
 * committed finds its own writer id on the current value and reports that version instead of a
 * conflict with itself. A write PUBLISHes on the channel of each live watched prefix that starts
 * its key (see `RedisWatches`); with none watched it costs one read of an absent sorted set.
 */
export const STORAGE_WRITE = script(`
local current = redis.call('HMGET', KEYS[1], 'v', 'w')
local version, writer = current[1], current[2]
if writer == ARGV[5] then return {1, version} end
if ARGV[1] == 'absent' then
  if version then return {0, version} end
elseif ARGV[1] == 'match' then
  if version ~= ARGV[2] then return {0, version or ''} end
end
local next = tostring(redis.call('INCR', KEYS[3]))
redis.call('HSET', KEYS[1], 'd', ARGV[3], 'v', next, 'w', ARGV[5])
redis.call('ZADD', KEYS[2], 0, ARGV[4])
local watched = redis.call('ZRANGE', KEYS[4], 0, -1, 'WITHSCORES')
if #watched > 0 then
  local t = redis.call('TIME')
  local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
  for i = 1, #watched, 2 do
    local p = watched[i]
    if tonumber(watched[i + 1]) > now and string.sub(ARGV[4], 1, #p) == p then
      redis.call('PUBLISH', ARGV[6] .. p, '')
    end
  end
end
return {1, next}
`);

/**
 * Registers watched prefixes until now + a TTL (server time), and drops expired ones. KEYS: the
 * watched prefixes' sorted set. ARGV: TTL in ms, then the prefixes. A registration is renewed by
 * its watcher's heartbeat; one whose watcher is gone expires and stops costing writers a PUBLISH.
 */
export const WATCH_REGISTER = script(`
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now)
for i = 2, #ARGV do redis.call('ZADD', KEYS[1], now + tonumber(ARGV[1]), ARGV[i]) end
return 1
`);

/**
 * Storage delete. KEYS: value hash, key index. ARGV: mode, expected version, durable key.
 * Returns `{1}` when deleted, `{2}` when absent (nothing to delete), `{0, current}` on a failed
 * condition.
 */
export const STORAGE_DELETE = script(`
local version = redis.call('HGET', KEYS[1], 'v')
if ARGV[1] == 'absent' then
  if version then return {0, version} end
  return {2}
elseif ARGV[1] == 'match' then
  if version ~= ARGV[2] then return {0, version or ''} end
end
if not version then return {2} end
redis.call('DEL', KEYS[1])
redis.call('ZREM', KEYS[2], ARGV[3])
return {1}
`);
