#!/usr/bin/env bash
# ESLint (typescript-eslint's type-checked rules, zero warnings) and Prettier on the packages whose
# sources are clean; npm test runs it. A package joins the list once `pnpm lint` finds nothing in
# it; `pnpm lint` checks every package.
set -euo pipefail
cd "$(dirname "$0")/.."
CLEAN=(testkit)
dirs=("${CLEAN[@]/#/packages/}")
srcs=("${dirs[@]/%//src}")
npx eslint "${srcs[@]}" --max-warnings=0
npx prettier --check "${srcs[@]}" --log-level warn
echo "lint: ${CLEAN[*]} clean (eslint + prettier)"
