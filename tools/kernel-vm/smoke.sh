#!/usr/bin/env bash
# Smoke check of the kernel test VM. On the host it boots the guest (through
# run.sh) and runs itself there; in the guest it checks what Bulwark's kernel
# tests rely on. Exits non-zero on the first failed check.
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
repo=$(cd "$here/../.." && pwd)
marker=smoke-ok

usage() {
  cat <<'EOF'
usage: tools/kernel-vm/smoke.sh [--kvm] [--timeout SECONDS]
       tools/kernel-vm/smoke.sh --in-guest

On the host: boots the kernel test VM with a fresh work folder, runs the
checks below in it, then checks from the host that the guest's file landed
in the work folder. Options go to run.sh. In the guest (BULWARK_KERNEL_VM=1,
or --in-guest), checks that:
  - /sys/kernel/security/lsm lists bpf (BPF LSM active)
  - /sys/kernel/btf/vmlinux exists (CO-RE)
  - bpffs, cgroup2, tracefs and securityfs are mounted
  - the host root is read-only and the work folder writable
  - the repo's Node (.tools/node/bin/node, else node on PATH) is 24 or newer
Run tools/kernel-vm/prepare.sh first.
EOF
}

log() { printf 'smoke: %s\n' "$*" >&2; }

in_guest() {
  fail() { printf 'smoke: FAIL %s\n' "$*"; exit 1; }
  ok() { printf 'smoke: ok   %s\n' "$*"; }
  uptime_now() { cut -d' ' -f1 /proc/uptime; }

  ok "kernel $(uname -r)"
  [[ -r /sys/kernel/security/lsm ]] || fail "no /sys/kernel/security/lsm (securityfs not mounted?)"
  lsm=$(cat /sys/kernel/security/lsm)
  [[ ",$lsm," == *,bpf,* ]] || fail "bpf lsm not active: /sys/kernel/security/lsm is '$lsm'"
  ok "lsm: $lsm"
  [[ -s /sys/kernel/btf/vmlinux ]] || fail "no /sys/kernel/btf/vmlinux"
  ok "btf: /sys/kernel/btf/vmlinux ($(stat -c %s /sys/kernel/btf/vmlinux) bytes)"
  for mount in /sys/fs/bpf:bpf /sys/fs/cgroup:cgroup2 /sys/kernel/tracing:tracefs /sys/kernel/security:securityfs /tmp:tmpfs /run:tmpfs; do
    target=${mount%%:*} type=${mount#*:}
    actual=$(awk -v target="$target" '$2 == target { type = $3 } END { print type }' /proc/mounts)
    [[ $actual == "$type" ]] || fail "$target is not a $type mount (found '${actual:-nothing}')"
  done
  ok "mounts: bpffs, cgroup2, tracefs, securityfs, tmpfs on /tmp and /run"

  if touch "$repo/.kernel-vm-smoke" 2>/dev/null; then
    rm -f "$repo/.kernel-vm-smoke"
    fail "the host root is writable in the guest ($repo)"
  fi
  ok "host root read-only ($repo)"

  node=$repo/.tools/node/bin/node
  [[ -x $node ]] || node=$(command -v node) || fail "no Node: neither $repo/.tools/node/bin/node nor node on PATH"
  started=$(uptime_now)
  version=$("$node" -e 'console.log(process.version)') || fail "$node -e failed"
  ended=$(uptime_now)
  if ! [[ $version =~ ^v([0-9]+)\. ]] || ((BASH_REMATCH[1] < 24)); then fail "$node is $version; need 24 or newer"; fi
  ok "node $version ($node, $(awk -v a="$started" -v b="$ended" 'BEGIN { printf "%.2f", b - a }') s cold)"

  workdir=${BULWARK_KERNEL_VM_WORKDIR:?BULWARK_KERNEL_VM_WORKDIR is not set; run through tools/kernel-vm/run.sh}
  printf 'written in the guest by %s\n' "$(uname -r)" >"$workdir/$marker" || fail "cannot write to the work folder $workdir"
  ok "work folder writable ($workdir)"
}

case "${1:-}" in
  -h | --help) usage; exit 0 ;;
  --in-guest) in_guest; exit 0 ;;
esac
if [[ ${BULWARK_KERNEL_VM:-} == 1 ]]; then
  in_guest
  exit 0
fi

workdir=$(mktemp -d "${TMPDIR:-/tmp}/kernel-vm-smoke.XXXXXX")
trap 'rm -rf -- "$workdir"' EXIT
started=$(date +%s.%N)
"$here/run.sh" --workdir "$workdir" "$@" -- "$here/smoke.sh" --in-guest
ended=$(date +%s.%N)
[[ -s $workdir/$marker ]] || { log "FAIL the guest's file $workdir/$marker is missing on the host"; exit 1; }
log "ok   host sees $workdir/$marker: $(cat "$workdir/$marker")"
log "passed in $(awk -v a="$started" -v b="$ended" 'BEGIN { printf "%.1f", b - a }') s"
