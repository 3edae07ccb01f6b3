#!/usr/bin/env bash
# Prettier over every TypeScript and JavaScript file of the repository (.prettierignore says what it
# skips), and ESLint (typescript-eslint's type-checked rules, zero warnings) on the packages whose
# sources are clean; npm test runs it. A package joins the ESLint list once `pnpm lint` finds
# nothing in it; `pnpm lint` checks every package.
set -euo pipefail
cd "$(dirname "$0")/.."
CLEAN=(core testkit fs sqlite s3 mongo dynamo-lock workflow postgres cli fsm-server redis-lock)
dirs=("${CLEAN[@]/#/packages/}")
srcs=("${dirs[@]/%//src}")
npx prettier --check . --log-level warn
npx eslint "${srcs[@]}" --max-warnings=0
echo "lint: prettier clean everywhere; eslint clean in ${CLEAN[*]}"
