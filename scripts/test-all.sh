#!/usr/bin/env bash
# The README's test command: installs, builds, type-checks and runs every package's tests. Tests
# start the servers they need themselves (redis-server and postgresql from Debian; dynalite and s3rver from npm;
# mongo-java-server, FerretDB and moto when installed, see .ci/run, else those suites are
# skipped, each by a test named SKIPPED, listed again at the end).
set -uo pipefail
cd "$(dirname "$0")/.."
source scripts/pnpm.sh
if ! command -v redis-server >/dev/null 2>&1; then
  if [[ $(id -u) -eq 0 ]] && command -v apt-get >/dev/null 2>&1; then
    echo "installing redis-server (Debian) for the Redis lock tests..."
    (apt-get update -qq && apt-get install -y -qq redis-server) >/dev/null || { echo "apt-get install redis-server failed"; exit 1; }
  else
    echo "redis-server is not installed: install it (e.g. apt-get install redis-server) or set REDIS_URL"; exit 1
  fi
fi
if ! compgen -G '/usr/lib/postgresql/*/bin/initdb' >/dev/null && [[ -z "${DATABASE_URL:-}" ]]; then
  if [[ $(id -u) -eq 0 ]] && command -v apt-get >/dev/null 2>&1; then
    echo "installing postgresql (Debian) for the PostgreSQL tests..."
    (apt-get update -qq && apt-get install -y -qq postgresql) >/dev/null || echo "apt-get install postgresql failed: the PostgreSQL suites will be skipped"
  fi
fi
"${PNPM[@]}" install --frozen-lockfile || exit 1
"${PNPM[@]}" exec turbo run build typecheck --output-logs=errors-only || exit 1
node scripts/check-packages.mjs || exit 1
bash scripts/lint.sh || exit 1
log=$(mktemp)
# --continue: a failing package must not hide the results of the packages after it.
"${PNPM[@]}" exec turbo run test --concurrency=1 --continue --output-logs=full 2>&1 | tee "$log"
status=${PIPESTATUS[0]}
# One closing line over every package's jest summary.
sed -E 's/\x1b\[[0-9;]*m//g' "$log" | grep -E 'Tests: ' | awk '
  { for (i = 1; i <= NF; i++) { if ($i ~ /^passed/) p += $(i-1); if ($i ~ /^failed/) f += $(i-1); if ($i ~ /^skipped/) s += $(i-1) } }
  END { printf "\nall: %d passed, %d failed", p, f; if (s) printf ", %d skipped", s; printf "\n" }'
# Suites that could not run here (a server missing), loudly, once each.
sed -E 's/\x1b\[[0-9;]*m//g' "$log" | grep -oE '@durable/[a-z-]+: SKIPPED: .*' | sort -u | sed -e 's/^/  /' -e '1i skipped for want of a server:' || true
rm -f "$log"
exit "$status"
