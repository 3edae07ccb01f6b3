import { createHash } from 'node:crypto';

/** A Lua script with its SHA-1, run by EVALSHA with an EVAL fallback. */
export interface LuaScript {
  readonly source: string;
  readonly sha: string;
}

function script(source: string): LuaScript {
  return { source, sha: createHash('sha1').update(source).digest('hex') };
}

/**
 * Acquire: `SET lock token NX PX ttl`, then INCR the fencing counter. Returns the fencing token
 * when granted, or `-pttl` (how long the current holder still has) when held by someone else.
 * KEYS: lock, fence. ARGV: token, ttlMs, and "1" when the caller will wait for a release
 * announcement. The counter's retention is part of the script text (one script per setting), so
 * the hot path sends no more arguments than a plain `SET NX PX`.
 *
 * A counter that does not exist (first grant, or lost with a Redis restart without persistence)
 * is seeded with the server time in microseconds, so tokens keep increasing across data loss.
 * Its retention (at least twice the lease) is renewed on every 64th grant rather than on each,
 * to keep the hot path short; an expired counter is re-seeded the same way.
 *
 * A waiter marks the held lock by appending ":w" to the holder's token (tokens are hex, so the
 * mark is unambiguous); only a marked lock's release PUBLISHes, so an uncontended
 * acquire+release costs four Redis calls, like a lock without fencing or wake-ups.
 * Running the script twice with one token (a client resending after a dropped connection)
 * returns the same grant instead of reporting our own lease as contended.
 */
export function acquireScript(fenceRetentionMs: number): LuaScript {
  const retention = Math.max(1, Math.floor(fenceRetentionMs));
  return script(`
if redis.call('SET', KEYS[1], ARGV[1], 'NX', 'PX', ARGV[2]) then
  local fence = redis.call('INCR', KEYS[2])
  if fence == 1 then
    local t = redis.call('TIME')
    fence = redis.call('INCRBY', KEYS[2], t[1] .. string.format('%06d', tonumber(t[2])))
    redis.call('PEXPIRE', KEYS[2], math.max(${retention}, 2 * tonumber(ARGV[2])))
  elseif fence % 64 == 0 then
    redis.call('PEXPIRE', KEYS[2], math.max(${retention}, 2 * tonumber(ARGV[2])))
  end
  return fence
end
local current = redis.call('GET', KEYS[1])
if current == ARGV[1] or current == ARGV[1] .. ':w' then
  redis.call('PEXPIRE', KEYS[1], ARGV[2])
  return tonumber(redis.call('GET', KEYS[2]))
end
if ARGV[3] == '1' and string.sub(current, -2) ~= ':w' then
  redis.call('SET', KEYS[1], current .. ':w', 'KEEPTTL')
end
return -math.max(redis.call('PTTL', KEYS[1]), 0)
`);
}

/**
 * Release: delete the lock only if it holds our token; when a waiter marked it, announce the
 * release so waiters wake at once. The channel is the key prefix (the lock key up to its hash
 * tag) + "released", the message the lock's Redis key. KEYS: lock. ARGV: token. Returns 1 or 0.
 */
export const RELEASE = script(`
local current = redis.call('GET', KEYS[1])
if current == ARGV[1] then
  redis.call('DEL', KEYS[1])
  return 1
end
if current == ARGV[1] .. ':w' then
  redis.call('DEL', KEYS[1])
  redis.call('PUBLISH', string.match(KEYS[1], '^[^{]*') .. 'released', KEYS[1])
  return 1
end
return 0
`);

/** Extend: reset the TTL only if the lock holds our token (marked or not). KEYS: lock. ARGV: token, ttlMs. */
export const EXTEND = script(`
local current = redis.call('GET', KEYS[1])
if current == ARGV[1] or current == ARGV[1] .. ':w' then
  redis.call('PEXPIRE', KEYS[1], ARGV[2])
  return 1
end
return 0
`);

/**
 * Quorum mode, second phase: raise an instance's counter to the fencing token chosen across the
 * quorum, only while it still holds our token. KEYS: lock, fence. ARGV: token, fencingToken.
 */
export const RAISE_FENCE = script(`
local current = redis.call('GET', KEYS[1])
if current ~= ARGV[1] and current ~= ARGV[1] .. ':w' then return 0 end
local current = tonumber(redis.call('GET', KEYS[2]) or '0')
if current < tonumber(ARGV[2]) then
  redis.call('SET', KEYS[2], ARGV[2], 'KEEPTTL')
end
return 1
`);

/**
 * Holder: the live lease's remaining TTL (ms) and the fencing counter, read in one step so they
 * belong to the same grant (the counter only moves on a grant). Returns nil when the key is free.
 * KEYS: lock, fence.
 */
export const HOLDER = script(`
local pttl = redis.call('PTTL', KEYS[1])
if pttl < 0 then return nil end
return { pttl, tonumber(redis.call('GET', KEYS[2]) or '0') }
`);
