#!/usr/bin/env bash
# The project's test command (`npm test`): the system packages the tests use, type check, lint, then
# every test file.
# Packages: those in test/system-packages.txt that are missing are installed with apt-get when we are
# root; otherwise one line names them and the tests that need them skip (they fail under CI=true).
# Node 20's test runner does not find .ts files by itself, so they are listed here; the reporter is set
# so that output reads the same on a terminal and in CI. Files run one at a time: the integration tests
# start daemons that watch the whole host, and two cores are better spent on one at a time.
set -euo pipefail
cd "$(dirname "$0")/.."
shopt -s nullglob

mapfile -t packages < <(grep -v '^\s*\(#\|$\)' test/system-packages.txt)
missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if ((${#missing[@]})); then
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
    echo "npm test: installing ${missing[*]}"
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
  else
    echo "npm test: not installed: ${missing[*]} (apt-get install ${missing[*]}); the tests that need them skip"
  fi
fi
# On a fresh machine npm ci ran before clang and libbpf-dev were there: build the eBPF probe now.
if ! [ -e build/Release/probe.node ] && [ "$(sh native/probe-buildable.sh 2>/dev/null)" = 1 ]; then
  echo "npm test: building the eBPF probe (npm ci ran before its build tools were installed)"
  npm run --silent install >/dev/null
fi
# The eBPF source attaches to its tracepoint through tracefs; a fresh VM may not have it mounted.
if [ "$(id -u)" = 0 ] && ! [ -e /sys/kernel/tracing/events ]; then
  mount -t tracefs tracefs /sys/kernel/tracing 2>/dev/null || echo "npm test: could not mount tracefs"
fi
echo "npm test: node $(node --version), kernel $(uname -r), clang $(clang --version 2>/dev/null | sed -n 's/.*version \([0-9.]*\).*/\1/p;q'), libbpf $(dpkg-query -W -f='${Version}' libbpf1 2>/dev/null || echo none)"

# The daemons the tests start keep nothing in the kernel after them (test/helpers/ci.ts says the same).
export SSH_OUTBOUND_PIN=none
npx tsc --noEmit
npx biome check .
files=(test/*.test.ts test/integration/*.test.ts)
# The fleet soak (test/soak/: ten minutes, issue 23) runs beside them: it starts no daemon of ours, only
# rsyslogd, logrotate and two trail writers, a light load; run after them it would take CI past half an
# hour. Its output follows theirs, and either failing fails the run.
# A probe pinned where the daemon pins by default, by a test of this run, is kernel state a test left
# behind (every test pins in a bpffs of its own, or not at all): said with when it was pinned, removed,
# and the run fails.
default_pin=/sys/fs/bpf/ssh-outbound-logger
pinned_before=0
[ -e "$default_pin/meta" ] && pinned_before=1
soak_log=$(mktemp)
node --import tsx --test --test-reporter=spec test/soak/*.test.ts >"$soak_log" 2>&1 &
soak_pid=$!
status=0
node --import tsx --test --test-reporter=spec --test-concurrency=1 "${files[@]}" || status=$?
soak_status=0
wait "$soak_pid" || soak_status=$?
echo "---- the fleet soak, run beside the tests above (test/soak/fleet.soak.test.ts)"
cat "$soak_log"
rm -f "$soak_log"
if [ "$pinned_before" = 0 ] && [ -e "$default_pin/meta" ]; then
  echo "npm test: a test left a probe pinned in $default_pin (pinned $(stat -c %y "$default_pin/meta")); removing it"
  node --import tsx src/cli.ts unload --pin "$default_pin" || true
  [ "$status" -ne 0 ] || status=1
fi
if [ "$status" -ne 0 ]; then exit "$status"; fi
exit "$soak_status"
