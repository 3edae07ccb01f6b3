#!/usr/bin/env bash
# Prettier over every TypeScript and JavaScript file of the repository (.prettierignore says what it
# skips), and ESLint (typescript-eslint's type-checked rules, zero warnings) on the packages whose
# sources are clean; npm test runs it. A package joins the ESLint list once `pnpm lint` finds
# nothing in it; `pnpm lint` checks every package. One name per line: .gitattributes merges this
# file by union, so two branches that each add a package both land.
set -euo pipefail
cd "$(dirname "$0")/.."
CLEAN=(
  cli
  core
  dynamo-lock
  fs
  fsm-server
  mongo
  postgres
  redis-lock
  s3
  sqlite
  test-support
  testkit
  workflow
)
dirs=("${CLEAN[@]/#/packages/}")
srcs=("${dirs[@]/%//src}")
npx prettier --check . --log-level warn
npx eslint "${srcs[@]}" --max-warnings=0
echo "lint: prettier clean everywhere; eslint clean in ${CLEAN[*]}"
