#!/usr/bin/env bash
# Boots the kernel test VM (Debian's 6.1 kernel, BPF LSM active) under QEMU
# and runs one command in it as root, with the host's / read-only and a work
# folder writable, then exits with the command's status.
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
repo=$(cd "$here/../.." && pwd)
cache=${BULWARK_KERNEL_VM_CACHE:-$repo/.cache/kernel-vm}

usage() {
  cat <<'EOF'
usage: tools/kernel-vm/run.sh [options] -- COMMAND [ARGS...]

Boots a QEMU guest with Debian's 6.1 kernel (BPF LSM active, BTF present)
and runs COMMAND in it as root, in the current folder, with:
  /                 the host's root, read-only (9p)
  DIR               the work folder, writable, at its host path
  /proc /sys /dev /dev/pts /dev/shm /run /tmp (tmpfs), securityfs,
  bpffs, cgroup2 and tracefs mounted; a current folder under /tmp,
                    /run or /dev/shm, and ../shared beside it, bound back
                    read-only
  environment       PATH (the repo's .tools/node/bin first when present),
                    HOME=/tmp, BULWARK_KERNEL_VM=1,
                    BULWARK_KERNEL_VM_WORKDIR=DIR, and the variables named in
                    BULWARK_KERNEL_VM_ENV (comma-separated names)
  kernel arguments  BULWARK_KERNEL_VM_CMDLINE is appended to the kernel
                    command line (e.g. "loglevel=7" with --console)
COMMAND's stdout and stderr (character devices in the guest, not terminals)
stream to this script's; its stdin is /dev/null.

options:
  --workdir DIR     writable work folder (created if missing; default: a
                    fresh temporary folder, removed afterwards)
  --timeout SECONDS stop the guest after this long (default 600); exit 124
  --kvm             use KVM (-accel kvm -cpu host) instead of TCG
  --console         copy the guest console (kernel, init) to stderr
  --quiet           no timing line on stderr at the end
  -h, --help        this text

exit status: COMMAND's; 124 on timeout; 125 when the guest failed to run it
(the end of its console is printed); 2 on a usage error.
Run tools/kernel-vm/prepare.sh first (cache: $BULWARK_KERNEL_VM_CACHE,
default .cache/kernel-vm in the repo).
EOF
}

log() { printf 'kernel-vm: %s\n' "$*" >&2; }
die() { log "$*"; exit 125; }
usage_error() { log "$*"; log "see tools/kernel-vm/run.sh --help"; exit 2; }

workdir=
timeout_seconds=600
accel=(-accel tcg -cpu max)
console=0
quiet=0
while (($#)); do
  case "$1" in
    -h | --help) usage; exit 0 ;;
    --workdir) (($# >= 2)) || usage_error "--workdir needs a folder"; workdir=$2; shift 2 ;;
    --workdir=*) workdir=${1#*=}; shift ;;
    --timeout) (($# >= 2)) || usage_error "--timeout needs seconds"; timeout_seconds=$2; shift 2 ;;
    --timeout=*) timeout_seconds=${1#*=}; shift ;;
    --kvm) accel=(-accel kvm -cpu host); shift ;;
    --console) console=1; shift ;;
    --quiet) quiet=1; shift ;;
    --) shift; break ;;
    -*) usage_error "unknown option $1" ;;
    *) break ;;
  esac
done
(($#)) || usage_error "no command given"
[[ $timeout_seconds =~ ^[1-9][0-9]*$ ]] || usage_error "--timeout must be a whole number of seconds, got '$timeout_seconds'"

# --- checks ----------------------------------------------------------------------
command -v qemu-system-x86_64 >/dev/null || die "qemu-system-x86_64 not found; run tools/kernel-vm/prepare.sh"
for file in vmlinuz initrd.gz stamp; do
  [[ -s $cache/$file ]] || die "no $file in $cache; run tools/kernel-vm/prepare.sh"
done
init_hash=$(sha256sum "$here/guest-init.sh" | cut -d' ' -f1)
grep -qx "init=$init_hash" "$cache/stamp" ||
  die "initrd.gz in $cache was built from another guest-init.sh; run tools/kernel-vm/prepare.sh"
kernel=$cache/vmlinuz
[[ -s $cache/vmlinux ]] && kernel=$cache/vmlinux
if [[ ${accel[1]} == kvm && ! -w /dev/kvm ]]; then
  die "--kvm: /dev/kvm is missing or not writable"
fi

# The guest sees the host's paths, so resolve symbolic links here.
cwd=$(pwd -P)
keep_workdir=1
if [[ -z $workdir ]]; then
  workdir=$(mktemp -d "${TMPDIR:-/tmp}/kernel-vm-work.XXXXXX")
  keep_workdir=0
else
  mkdir -p -- "$workdir" || die "cannot create work folder $workdir"
fi
workdir=$(cd -- "$workdir" && pwd -P)
[[ $workdir != / ]] || usage_error "--workdir cannot be /"

control=$(mktemp -d "${TMPDIR:-/tmp}/kernel-vm-control.XXXXXX")
qemu_pid=
reader_pids=()
# shellcheck disable=SC2317 # called through the EXIT trap
cleanup() {
  if [[ -n $qemu_pid ]] && kill -0 "$qemu_pid" 2>/dev/null; then
    kill -TERM "$qemu_pid" 2>/dev/null || true
  fi
  for pid in "${reader_pids[@]}"; do kill "$pid" 2>/dev/null || true; done
  rm -rf -- "$control"
  if ((keep_workdir == 0)); then rm -rf -- "$workdir"; fi
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# --- the job ---------------------------------------------------------------------
quote() { local s=${1//\'/\'\\\'\'}; printf "'%s'" "$s"; }

guest_path=$PATH
if [[ -x $repo/.tools/node/bin/node && ":$PATH:" != *":$repo/.tools/node/bin:"* ]]; then
  guest_path="$repo/.tools/node/bin:$PATH"
fi
{
  printf 'WORKDIR=%s\n' "$(quote "$workdir")"
} >"$control/config"
# The guest covers /tmp, /run and /dev/shm with a tmpfs of its own: a
# checkout there, and the shared data beside it, are put back (binds.sh).
"$here/binds.sh" "$cwd" >"$control/binds" || die "cannot list the folders to put back in the guest"
{
  echo '# written by tools/kernel-vm/run.sh; run by the guest as /bin/sh /run/kernel-vm/job.sh'
  printf 'export PATH=%s\n' "$(quote "$guest_path")"
  echo "export HOME=/tmp"
  echo "export BULWARK_KERNEL_VM=1"
  printf 'export BULWARK_KERNEL_VM_WORKDIR=%s\n' "$(quote "$workdir")"
  IFS=',' read -r -a names <<<"${BULWARK_KERNEL_VM_ENV:-}"
  for name in "${names[@]}"; do
    name=${name//[[:space:]]/}
    [[ -n $name ]] || continue
    [[ $name =~ ^[A-Za-z_][A-Za-z0-9_]*$ ]] || die "BULWARK_KERNEL_VM_ENV: '$name' is not a variable name"
    [[ -v $name ]] || continue
    printf 'export %s=%s\n' "$name" "$(quote "${!name}")"
  done
  printf 'cd %s || { printf "kernel-vm: cannot enter %%s in the guest\\n" %s >&2; exit 125; }\n' "$(quote "$cwd")" "$(quote "$cwd")"
  printf 'exec'
  for argument in "$@"; do printf ' %s' "$(quote "$argument")"; done
  printf '\n'
} >"$control/job.sh"

# --- QEMU --------------------------------------------------------------------------
# The console is the serial port ttyS0; the command's stdout and stderr are
# virtio-serial ports (much faster than a serial port under TCG: MB/s, not
# about 200 KB/s). QEMU writes each into a FIFO that a reader here copies out.
# A reader whose output goes away (run.sh ... | head) keeps draining into
# /dev/null: QEMU would otherwise stop taking data from the port and the
# command would block on its next write until the timeout.
drain() { # FIFO: copy it to stdout, then discard whatever stdout refuses
  exec 3<"$1"
  cat <&3 || cat <&3 >/dev/null
}
for stream in console stdout stderr; do mkfifo "$control/$stream.fifo"; done
drain "$control/stdout.fifo" &
reader_pids+=($!)
drain "$control/stderr.fifo" >&2 &
reader_pids+=($!)
if ((console)); then
  drain "$control/console.fifo" | tee "$control/console.log" >&2 &
else
  drain "$control/console.fifo" >"$control/console.log" &
fi
reader_pids+=($!)

share() { # share ID PATH [readonly]
  local options="local,id=$1,path=${2//,/,,},security_model=none,multidevs=remap${3:+,readonly=on}"
  printf '%s\n' -fsdev "$options" -device "virtio-9p-pci,fsdev=$1,mount_tag=$1"
}
mapfile -t shares < <(share host / readonly; share work "$workdir"; share ctl "$control")

started=$(date +%s.%N)
timeout --kill-after=10 "$timeout_seconds" \
  qemu-system-x86_64 -nodefaults -no-user-config -display none -no-reboot \
  "${accel[@]}" -m 2048 -smp 2 \
  -kernel "$kernel" -initrd "$cache/initrd.gz" \
  -append "console=ttyS0 quiet loglevel=0 panic=-1${BULWARK_KERNEL_VM_CMDLINE:+ $BULWARK_KERNEL_VM_CMDLINE}" \
  -chardev "file,id=console,path=${control//,/,,}/console.fifo" -serial chardev:console \
  -device virtio-serial-pci,id=ports \
  -chardev "file,id=stdout,path=${control//,/,,}/stdout.fifo" -device virtserialport,bus=ports.0,chardev=stdout,name=stdout \
  -chardev "file,id=stderr,path=${control//,/,,}/stderr.fifo" -device virtserialport,bus=ports.0,chardev=stderr,name=stderr \
  "${shares[@]}" \
  </dev/null >"$control/qemu.log" 2>&1 &
qemu_pid=$!
qemu_status=0
# (wait's stderr is bash's own "Aborted"-style job report, not QEMU's.)
wait "$qemu_pid" 2>/dev/null || qemu_status=$?
qemu_pid=
ended=$(date +%s.%N)

# A FIFO that QEMU never opened (it failed first) still blocks its reader in
# open(): opening it here once lets the reader see end of file.
for stream in console stdout stderr; do : <>"$control/$stream.fifo"; done
for pid in "${reader_pids[@]}"; do wait "$pid" || true; done
reader_pids=()

show_failure() {
  if [[ -s $control/error ]]; then log "guest: $(cat "$control/error")"; fi
  if [[ -s $control/qemu.log ]]; then
    log "qemu said:"
    sed 's/^/  /' "$control/qemu.log" >&2
  fi
  if ((console == 0)) && [[ -s $control/console.log ]]; then
    log "end of the guest console:"
    tr -d '\r' <"$control/console.log" | tail -n 20 | sed 's/^/  /' >&2
  fi
}

if [[ ! -s $control/status ]]; then
  if ((qemu_status == 124 || qemu_status == 137)); then
    log "timed out after $timeout_seconds s; QEMU was killed (raise it with --timeout SECONDS)"
    rm -f "$control/qemu.log" # only QEMU's "terminating on signal"
    show_failure
    exit 124
  fi
  log "the guest stopped without running the command to its end (QEMU exit status $qemu_status)"
  show_failure
  exit 125
fi
status=$(cat "$control/status")
[[ $status =~ ^[0-9]+$ ]] || die "bad exit status '$status' from the guest"
if ((quiet == 0)); then
  boot=$(cat "$control/started" 2>/dev/null || echo '?')
  guest_end=$(cat "$control/ended" 2>/dev/null || echo '?')
  awk -v boot="$boot" -v guest_end="$guest_end" -v total="$(awk -v a="$started" -v b="$ended" 'BEGIN { printf "%.1f", b - a }')" -v status="$status" \
    'BEGIN { printf "kernel-vm: exit %d; boot to command %.1f s, command %.1f s, total %s s\n", status, boot, guest_end - boot, total }' >&2
fi
exit "$status"
