#!/usr/bin/env bash
# The README's first command: installs, builds and runs every example on local files (no server).
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/pnpm.sh
"${PNPM[@]}" install --frozen-lockfile
"${PNPM[@]}" exec turbo run build --output-logs=errors-only >/dev/null
for dir in examples/*/; do
  if node -e "process.exit(require('./${dir}package.json').scripts?.demo ? 0 : 1)"; then
    echo
    echo "================ ${dir%/} ================"
    (cd "$dir" && "${PNPM[@]}" run --silent demo)
  fi
done
