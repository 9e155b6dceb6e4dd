#!/bin/sh
# /init of the kernel test VM (busybox sh, built into initrd.gz by prepare.sh).
#
# Loads the virtio and 9p modules, mounts the run's control share (tag ctl),
# the host's / read-only (tag host) at /mnt and the writable work share (tag
# work) at its host path inside /mnt, mounts the kernel filesystems inside
# /mnt, then runs /run/kernel-vm/job.sh with /mnt as its root (moved onto / in a
# mount namespace of its own, then chrooted into) with its stdout and
# stderr on the virtio-serial ports named stdout and stderr. Writes the exit
# status and timings to the control share and powers off. Its own messages
# and the kernel's go to the console, ttyS0.
export PATH=/bin

uptime_now() { read -r seconds _ </proc/uptime && echo "$seconds"; }

fail() {
  echo "kernel-vm-init: $*"
  if grep -q ' /ctl 9p ' /proc/mounts 2>/dev/null; then
    echo "$*" >/ctl/error
  fi
  sync
  poweroff -f
  sleep 10
}

mount -t proc proc /proc
mount -t sysfs sysfs /sys
mount -t devtmpfs devtmpfs /dev
exec </dev/null >/dev/ttyS0 2>&1

while read -r module; do
  insmod "/modules/$module" || fail "insmod $module failed"
done </modules/order

# 9p over virtio: 512 KiB messages are the most this kernel's transport takes.
p9='trans=virtio,version=9p2000.L,msize=512000'
mount -t 9p -o "$p9,cache=none" ctl /ctl || fail "mount control share failed"
[ -r /ctl/config ] || fail "no /ctl/config"
# shellcheck source=/dev/null # written by run.sh for each run
. /ctl/config
case "$WORKDIR" in /*) ;; *) fail "WORKDIR must be an absolute path, got '$WORKDIR'" ;; esac

# cache=loose: the host root is read-only for the guest and does not change
# during a run, and node starts several times faster than without caching.
mount -t 9p -o "$p9,ro,cache=loose" host /mnt || fail "mount host root failed"
# A second view of the host root without the guest's own mounts on it, for
# the host folders that lie under /tmp or /run (covered below with a tmpfs).
mkdir -p /host
mount -o bind /mnt /host || fail "bind host root failed"
mount -t proc proc /mnt/proc || fail "mount proc failed"
mount -t sysfs sysfs /mnt/sys || fail "mount sysfs failed"
mount -t devtmpfs devtmpfs /mnt/dev || fail "mount devtmpfs failed"
mkdir -p /mnt/dev/pts /mnt/dev/shm
mount -t devpts -o newinstance,ptmxmode=0666,mode=0620 devpts /mnt/dev/pts || fail "mount devpts failed"
ln -sf pts/ptmx /mnt/dev/ptmx
mount -t tmpfs -o mode=1777 tmpfs /mnt/dev/shm || fail "mount /dev/shm failed"
mount -t tmpfs -o mode=0755 tmpfs /mnt/run || fail "mount /run failed"
mount -t tmpfs -o mode=1777 tmpfs /mnt/tmp || fail "mount /tmp failed"
mount -t securityfs securityfs /mnt/sys/kernel/security || fail "mount securityfs failed"
mount -t bpf -o mode=0700 bpf /mnt/sys/fs/bpf || fail "mount bpffs failed"
mount -t cgroup2 -o nsdelegate cgroup2 /mnt/sys/fs/cgroup || fail "mount cgroup2 failed"
mount -t tracefs tracefs /mnt/sys/kernel/tracing || fail "mount tracefs failed"
# Host folders the run needs (the checkout, the shared data beside it) that
# the tmpfs mounts above cover, as run.sh lists them: bound back, read-only
# as the rest of the host root, or made again as a symbolic link.
tab=$(printf '\t')
if [ -r /ctl/binds ]; then
  while IFS="$tab" read -r kind path target; do
    case "$path" in /?*) ;; *) continue ;; esac
    case "$kind" in
      bind)
        mkdir -p "/mnt$path" || fail "cannot create $path in the guest"
        mount -o bind "/host$path" "/mnt$path" || fail "cannot bind $path into the guest" ;;
      link)
        mkdir -p "/mnt${path%/*}" && ln -sfn "$target" "/mnt$path" || fail "cannot link $path in the guest" ;;
    esac
  done </ctl/binds
fi
mkdir -p /mnt/run/kernel-vm
mount --bind /ctl /mnt/run/kernel-vm || fail "bind control share failed"
# The work folder's host path exists in the read-only root unless it lies
# under a folder the guest covers with a tmpfs (/tmp, /run): create it there.
[ -d "/mnt$WORKDIR" ] || mkdir -p "/mnt$WORKDIR" || fail "cannot create $WORKDIR in the guest"
mount -t 9p -o "$p9,cache=mmap" work "/mnt$WORKDIR" || fail "mount work share at $WORKDIR failed"
ip link set lo up 2>/dev/null || true
hostname kernel-vm

# The command's stdout and stderr are virtio-serial ports named stdout and
# stderr (character devices, not terminals). A blocking write to a port
# returns once QEMU has taken the data, so nothing is lost at power-off.
find_port() {
  for port in /sys/class/virtio-ports/*; do
    [ "$(cat "$port/name" 2>/dev/null)" = "$1" ] && [ -c "/dev/${port##*/}" ] && echo "/dev/${port##*/}" && return 0
  done
  return 1
}
tries=0
until stdout_port=$(find_port stdout) && stderr_port=$(find_port stderr); do
  tries=$((tries + 1))
  [ "$tries" -le 100 ] || fail "no virtio ports named stdout and stderr"
  sleep 0.05
done

started=$(uptime_now)
echo "$started" >/ctl/started
# In a mount namespace of its own, /mnt is moved onto / before the chroot
# (as switch_root does), so that the job's root is its namespace's root:
# under a plain chroot the kernel refuses a user namespace (unshare -U,
# EPERM), which the adversarial tests and rootless runtimes need.
env -i /bin/unshare -m /bin/sh -c 'cd /mnt && mount --move /mnt / && exec chroot . /bin/sh /run/kernel-vm/job.sh' </dev/null >"$stdout_port" 2>"$stderr_port"
status=$?
ended=$(uptime_now)

echo "$ended" >/ctl/ended
echo "$status" >/ctl/status.partial && mv /ctl/status.partial /ctl/status
sync
poweroff -f
