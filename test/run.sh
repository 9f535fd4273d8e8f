#!/usr/bin/env bash
# The project's test command (`npm test`): type check, lint, then every test file.
# Node 20's test runner does not find .ts files by itself, so they are listed here; the reporter is set
# so that output reads the same on a terminal and in CI. Files run one at a time: the integration tests
# start daemons that watch the whole host, and two cores are better spent on one at a time.
set -euo pipefail
cd "$(dirname "$0")/.."
shopt -s nullglob
npx tsc --noEmit
npx biome check .
files=(test/*.test.ts test/integration/*.test.ts)
exec node --import tsx --test --test-reporter=spec --test-concurrency=1 "${files[@]}"
