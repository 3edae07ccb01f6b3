#!/usr/bin/env bash
# Proves that @durable/testkit works for a third party outside this repository: packs core and
# testkit as npm would publish them, installs them with jest into an empty project, writes a tiny
# adapter of its own there (a Map-backed storage and lock), and runs the suites. Needs the npm
# registry (for jest). Not part of `npm test`.
set -euo pipefail
repo=$(cd "$(dirname "$0")/.." && pwd)
source "$repo/scripts/pnpm.sh"
work=$(mktemp -d /tmp/durable-third-party-XXXX)
trap 'rm -rf "$work"' EXIT
for pkg in core testkit; do (cd "$repo/packages/$pkg" && "${PNPM[@]}" pack --pack-destination "$work" >/dev/null); done
cd "$work"
cat > package.json <<'JSON'
{ "name": "my-durable-adapter", "private": true, "scripts": { "test": "jest" } }
JSON
npm install --no-audit --no-fund --loglevel=error ./durable-core-*.tgz ./durable-testkit-*.tgz jest@30.5.2 >/dev/null
cat > adapter.js <<'JS'
// A third party's adapter: storage and lock over a shared Map, written against the contracts only.
const { DurableError } = require('@durable/core');
const { conflictError, assertValidKey, assertValidPrefix, createLease, createLockToken, pageKeys, resolveTtl, retryUntil, toBytes } = require('@durable/core/adapter');
class MapStorage {
  constructor(map) { this.map = map; this.capabilities = { conditionalWrite: true }; }
  async read(key) { assertValidKey(key); const e = this.map.get(key); return e && { data: e.data.slice(), version: e.version }; }
  check(key, ifVersion, operation) {
    if (ifVersion === undefined || process.env.BROKEN) return; // BROKEN: a blind write, as the seed libraries did
    const current = this.map.get(key)?.version ?? null;
    if (current !== ifVersion) throw conflictError({ context: 'map', operation, key, expected: ifVersion, actual: current });
  }
  async write(key, value, { ifVersion } = {}) {
    assertValidKey(key); this.check(key, ifVersion, 'write');
    const version = `${Date.now()}-${Math.random()}`;
    this.map.set(key, { data: toBytes(value).slice(), version });
    return version;
  }
  async delete(key, { ifVersion } = {}) { assertValidKey(key); this.check(key, ifVersion, 'delete'); return this.map.delete(key); }
  async exists(key) { assertValidKey(key); return this.map.has(key); }
  async list(prefix, options = {}) { assertValidPrefix(prefix); return pageKeys([...this.map.keys()].filter((k) => k.startsWith(prefix)), options); }
}
class MapLock {
  constructor(map) { this.map = map; this.capabilities = { fencing: true, crossProcess: false }; }
  async acquire(key, options = {}) {
    assertValidKey(key);
    const ttlMs = resolveTtl(options.ttlMs, 30000, 'map lock');
    return retryUntil(async () => {
      const held = this.map.get(key);
      if (held && held.token && held.expiresAt > Date.now()) return undefined;
      const fencingToken = (held?.fencing ?? 0) + 1;
      const token = createLockToken();
      const expiresAt = Date.now() + ttlMs;
      this.map.set(key, { token, expiresAt, fencing: fencingToken });
      return createLease(this, { key, token, fencingToken, expiresAt, ttlMs });
    }, { waitMs: options.waitMs ?? 0, signal: options.signal, timeoutMessage: `map lock: timed out for ${key}` });
  }
  async release(key, token) {
    assertValidKey(key);
    const held = this.map.get(key);
    if (!held || held.token !== token) return false;
    this.map.set(key, { fencing: held.fencing });
    return true;
  }
  async extend(key, token, ttlMs) {
    const held = this.map.get(key);
    if (!held || held.token !== token || held.expiresAt <= Date.now()) throw new DurableError('LOCK_LOST', `map lock: lost ${key}`);
    held.expiresAt = Date.now() + ttlMs;
    return held.expiresAt;
  }
}
module.exports = { MapStorage, MapLock };
JS
cat > adapter.test.js <<'JS'
const { runLockSuite, runStorageSuite } = require('@durable/testkit');
const { MapLock, MapStorage } = require('./adapter');
const shared = new Map();
runStorageSuite('map storage (third party)', { create: () => new MapStorage(new Map()) });
runLockSuite('map lock (third party)', { create: () => new MapLock(shared), createPeer: () => new MapLock(shared) });
JS
npx jest 2>&1 | tail -6
echo
echo "The same adapter with blind writes (conditions ignored) must fail the storage suite:"
if BROKEN=1 npx jest > broken.log 2>&1; then
  echo "  it passed: the suite cannot catch a lost update"; exit 1
else
  grep -E '^\s+✕' broken.log | head -8
  grep -E '^Tests:' broken.log
fi
