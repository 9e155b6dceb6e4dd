#!/usr/bin/env bash
# Runs vitest's kernel tier (`--project kernel`) inside one kernel test VM
# and ends with the plain line `tests: N passed, N failed, N skipped`, like
# scripts/run-tests.ts: a skipped test, or no test at all, fails the run.
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
repo=$(cd "$here/../.." && pwd)
report_name=vitest-kernel-report.json

usage() {
  cat <<'EOF'
usage: tools/kernel-vm/test-kernel.sh [--timeout SECONDS] [--kvm] [--no-prepare] [-- VITEST_ARGS...]

Runs prepare.sh and scripts/build-scenario-rootfs.ts (both quick when their
cache is current), boots one kernel test VM
and runs, from the repo root inside it:
  node node_modules/vitest/vitest.mjs run --project kernel \
    --configLoader native --no-cache [VITEST_ARGS...]
The host root is read-only in the guest: --configLoader native imports
vitest.config.ts with Node's type stripping instead of bundling it into
node_modules/.vite-temp, and --no-cache keeps vitest from writing its
results cache into node_modules/.vite. Snapshot files cannot be written.

options:
  --timeout SECONDS  for the whole guest run (default 1200)
  --kvm              use KVM instead of TCG (see run.sh)
  --no-prepare       do not run prepare.sh first
VITEST_ARGS go to vitest as they are (file filters, -t NAME, --config FILE).
CI, NO_COLOR, FORCE_COLOR and TERM are passed into the guest when set, and
the names in BULWARK_KERNEL_VM_ENV as well.

exit status: 0 when every test passed and none was skipped; 1 otherwise;
124 on timeout; 125 when the guest failed.
EOF
}

log() { printf 'test-kernel: %s\n' "$*" >&2; }

if [[ ${1:-} == --in-guest ]]; then
  shift
  workdir=${BULWARK_KERNEL_VM_WORKDIR:?test-kernel.sh --in-guest runs only in the kernel test VM}
  cd "$repo"
  exec node node_modules/vitest/vitest.mjs run --project kernel --configLoader native --no-cache \
    --reporter=default --reporter=json "--outputFile.json=$workdir/$report_name" "$@"
fi

timeout_seconds=1200
run_options=()
prepare=1
while (($#)); do
  case "$1" in
    -h | --help) usage; exit 0 ;;
    --timeout) (($# >= 2)) || { log "--timeout needs seconds"; exit 2; }; timeout_seconds=$2; shift 2 ;;
    --timeout=*) timeout_seconds=${1#*=}; shift ;;
    --kvm) run_options+=(--kvm); shift ;;
    --no-prepare) prepare=0; shift ;;
    --) shift; break ;;
    *) log "unknown option $1 (vitest arguments go after --)"; exit 2 ;;
  esac
done

if ((prepare)); then "$here/prepare.sh"; fi
[[ -f $repo/node_modules/vitest/vitest.mjs ]] || { log "no node_modules/vitest in $repo; install the npm dependencies first (scripts/setup.sh)"; exit 1; }
node=$repo/.tools/node/bin/node
[[ -x $node ]] || node=$(command -v node) || { log "no Node on this machine; run scripts/setup.sh"; exit 1; }
# The scenario workload's root file system, built on the host where the repo is writable (quick when current).
if ((prepare)); then "$node" "$repo/scripts/build-scenario-rootfs.ts"; fi

workdir=$(mktemp -d "${TMPDIR:-/tmp}/kernel-vm-test.XXXXXX")
trap 'rm -rf -- "$workdir"' EXIT
export BULWARK_KERNEL_VM_ENV="${BULWARK_KERNEL_VM_ENV:+$BULWARK_KERNEL_VM_ENV,}CI,NO_COLOR,FORCE_COLOR,TERM"
status=0
"$here/run.sh" --workdir "$workdir" --timeout "$timeout_seconds" ${run_options[@]+"${run_options[@]}"} \
  -- "$here/test-kernel.sh" --in-guest "$@" || status=$?
if ((status == 124 || status == 125)); then exit "$status"; fi

# The same accounting as scripts/run-tests.ts.
"$node" - "$workdir/$report_name" "$status" <<'EOF'
const { readFileSync } = require('node:fs');
const [reportPath, statusText] = process.argv.slice(2);
const status = Number(statusText);
let summary;
try {
  summary = JSON.parse(readFileSync(reportPath, 'utf8'));
} catch {
  process.stdout.write('tests: 0 passed, 1 failed (vitest wrote no report)\n');
  process.exit(status === 0 ? 1 : status);
}
const skipped = summary.numPendingTests + summary.numTodoTests;
process.stdout.write(`tests: ${summary.numPassedTests} passed, ${summary.numFailedTests} failed, ${skipped} skipped\n`);
if (skipped > 0) process.stderr.write(`test-kernel: ${skipped} tests were skipped; every kernel test must run in the VM\n`);
if (summary.numTotalTests === 0) process.stderr.write('test-kernel: no kernel test ran\n');
const failed = status !== 0 || summary.numFailedTests > 0 || skipped > 0 || summary.numTotalTests === 0;
process.exit(failed ? 1 : 0);
EOF
