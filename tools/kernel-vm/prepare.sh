#!/usr/bin/env bash
# Prepares the kernel test VM: installs QEMU and the initramfs tools if they
# are missing, fetches Debian's current linux-image-6.1.*-amd64, and builds a
# busybox initramfs with the 9p modules and guest-init.sh as /init.
# Safe to run again: every step checks its cache before it acts.
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
repo=$(cd "$here/../.." && pwd)
cache=${BULWARK_KERNEL_VM_CACHE:-$repo/.cache/kernel-vm}
init_script="$here/guest-init.sh"

# Modules the guest needs, in load order: virtio over PCI, 9p for the shares,
# virtio_console for the ports that carry the command's stdout and stderr.
# modprobe --show-depends adds anything a newer kernel splits out of these.
modules=(virtio_ring virtio virtio_pci_legacy_dev virtio_pci_modern_dev virtio_pci netfs fscache 9pnet 9pnet_virtio 9p virtio_console)
apt_packages=(qemu-system-x86 busybox-static cpio kmod)
# Bump when the layout of the cache or of the initramfs changes.
format=4

usage() {
  cat <<EOF
usage: tools/kernel-vm/prepare.sh [--help]

Installs the Debian packages the kernel test VM needs (${apt_packages[*]};
needs root, and runs apt-get update only when one is missing), downloads the
kernel package that linux-image-amd64 depends on, unpacks it, runs depmod and
builds initrd.gz (busybox-static, the virtio, 9p and virtio_console modules,
guest-init.sh as /init).

Cache: \$BULWARK_KERNEL_VM_CACHE, default $repo/.cache/kernel-vm
Output: vmlinuz (and vmlinux, its uncompressed ELF, which boots faster),
initrd.gz and stamp in the cache. Nothing is rebuilt while
the stamp (kernel version, hash of guest-init.sh, modules) still matches.
EOF
}

log() { printf 'kernel-vm: %s\n' "$*" >&2; }
die() { log "$*"; exit 1; }

case "${1:-}" in
  -h | --help) usage; exit 0 ;;
  '') ;;
  *) usage >&2; exit 2 ;;
esac

[[ -f $init_script ]] || die "missing $init_script"

# --- Debian packages -------------------------------------------------------
apt_updated=0
apt_update() {
  if ((apt_updated == 0)); then
    log "apt-get update"
    apt-get update -qq >/dev/null
    apt_updated=1
  fi
}
missing=()
for package in "${apt_packages[@]}"; do
  dpkg-query -W -f='${Status}' "$package" 2>/dev/null | grep -q 'install ok installed' || missing+=("$package")
done
if ((${#missing[@]})); then
  [[ $(id -u) -eq 0 ]] || die "missing Debian packages: ${missing[*]} (run this script as root, or apt-get install them)"
  apt_update
  log "installing ${missing[*]}"
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi
for tool in qemu-system-x86_64 cpio depmod modprobe gzip; do
  command -v "$tool" >/dev/null || die "$tool not found after installing ${apt_packages[*]}"
done
[[ -x /bin/busybox ]] || die "/bin/busybox not found (Debian package busybox-static)"
file_type=$(LC_ALL=C od -An -c -N4 /bin/busybox | tr -d ' ')
[[ $file_type == 177ELF ]] || die "/bin/busybox is not an ELF binary"
if ldd /bin/busybox >/dev/null 2>&1; then
  die "/bin/busybox is dynamically linked; install busybox-static instead of busybox"
fi

# --- kernel package ----------------------------------------------------------
# linux-image-amd64 depends on the concrete package with its exact version
# ("Depends: linux-image-6.1.0-56-amd64 (= 6.1.192-2)"), so one apt-cache
# call (about 1 s) gives both.
resolve_kernel_package() {
  apt-cache show --no-all-versions linux-image-amd64 2>/dev/null |
    sed -n 's/^Depends: .*\(linux-image-[0-9][^ ,]*-amd64\)\( (= \([^)]*\))\)\{0,1\}.*$/\1 \3/p' | head -n1
}
resolved=$(resolve_kernel_package)
if [[ -z $resolved ]]; then
  [[ $(id -u) -eq 0 ]] || die "apt-cache does not know linux-image-amd64; run apt-get update as root"
  apt_update
  resolved=$(resolve_kernel_package)
fi
[[ -n $resolved ]] || die "cannot resolve the kernel package: linux-image-amd64 depends on no linux-image-*-amd64"
read -r kernel_package package_version <<<"$resolved"
[[ $kernel_package == linux-image-6.1.* ]] || log "note: linux-image-amd64 depends on $kernel_package, not a 6.1 kernel"
kernel_version=${kernel_package#linux-image-}
if [[ -z ${package_version:-} ]]; then
  package_version=$(apt-cache show --no-all-versions "$kernel_package" 2>/dev/null | sed -n 's/^Version: //p' | head -n1)
fi
[[ -n $package_version ]] || die "apt-cache show $kernel_package gives no version"
deb_name="${kernel_package}_${package_version//:/%3a}_amd64.deb"

init_hash=$(sha256sum "$init_script" | cut -d' ' -f1)
busybox_hash=$(sha256sum /bin/busybox | cut -d' ' -f1)
stamp_text="format=$format
kernel=$kernel_version
deb=$deb_name
init=$init_hash
busybox=$busybox_hash
modules=${modules[*]}"
if [[ -s $cache/initrd.gz && -s $cache/vmlinuz && $(cat "$cache/stamp" 2>/dev/null) == "$stamp_text" ]]; then
  log "up to date: kernel $kernel_version in $cache"
  exit 0
fi

mkdir -p "$cache/deb"
if [[ ! -s $cache/deb/$deb_name ]]; then
  log "downloading $kernel_package $package_version"
  rm -f "$cache/deb/"linux-image-*.deb
  # apt drops privileges to _apt for downloads when it can; a cache folder
  # that _apt cannot write makes it warn, so download into a world-writable
  # scratch folder and move the file in.
  scratch=$(mktemp -d)
  chmod 0777 "$scratch"
  if ! (cd "$scratch" && apt-get download -qq "$kernel_package=$package_version" >/dev/null); then
    rm -rf "$scratch"
    die "apt-get download $kernel_package=$package_version failed"
  fi
  mv "$scratch/$deb_name" "$cache/deb/$deb_name"
  rm -rf "$scratch"
fi

# The unpacked package (about 400 MB) is needed only while building, so it
# is removed at the end; the .deb stays for the next rebuild.
tree="$cache/root"
if [[ $(cat "$tree/.bulwark-deb" 2>/dev/null) != "$deb_name" ]]; then
  log "unpacking $deb_name"
  rm -rf "$tree" "$tree.partial"
  dpkg-deb -x "$cache/deb/$deb_name" "$tree.partial"
  mv "$tree.partial" "$tree"
  printf '%s\n' "$deb_name" >"$tree/.bulwark-deb"
fi
module_root="$tree/lib/modules/$kernel_version"
[[ -d $module_root ]] || die "$deb_name has no lib/modules/$kernel_version"
[[ -f $tree/boot/vmlinuz-$kernel_version ]] || die "$deb_name has no boot/vmlinuz-$kernel_version"
if [[ ! -s $module_root/modules.dep.bin || $module_root/modules.dep.bin -ot $tree/.bulwark-deb ]]; then
  log "depmod $kernel_version"
  depmod -b "$tree" "$kernel_version"
fi

# --- initramfs -----------------------------------------------------------------

log "building initrd.gz for $kernel_version"
rm -f "$cache/stamp"
staging=$(mktemp -d)
trap 'rm -rf "$staging"' EXIT
initramfs="$staging/initramfs"
mkdir -p "$initramfs"/{bin,dev,proc,sys,mnt,ctl,modules}
cp /bin/busybox "$initramfs/bin/busybox"
for applet in $(/bin/busybox --list); do
  [[ $applet == busybox ]] || ln -s busybox "$initramfs/bin/$applet"
done
cp "$init_script" "$initramfs/init"
chmod 0755 "$initramfs/init"

# modprobe prints the insmod lines in load order, dependencies first; a
# module built into this kernel shows as "builtin NAME" and needs nothing.
# An empty configuration keeps the host's modprobe.d out of it.
empty_config="$staging/modprobe.d"
mkdir -p "$empty_config"
order=()
for module in "${modules[@]}"; do
  lines=$(modprobe -C "$empty_config" -d "$tree" -S "$kernel_version" --show-depends "$module") ||
    die "modprobe --show-depends $module failed for $kernel_version"
  # The rest of the line is the path (it may hold spaces: the cache lives under the checkout).
  while read -r kind path; do
    [[ $kind == insmod ]] || continue
    path=${path%"${path##*[![:space:]]}"}
    name=$(basename "$path")
    name=${name%.xz}
    name=${name%.zst}
    name=${name%.gz}
    [[ " ${order[*]-} " == *" $name "* ]] && continue
    case "$path" in
      *.ko.xz) xz -dc "$path" >"$initramfs/modules/$name" ;;
      *.ko.zst) zstd -qdc "$path" >"$initramfs/modules/$name" ;;
      *.ko.gz) gzip -dc "$path" >"$initramfs/modules/$name" ;;
      *.ko) cp "$path" "$initramfs/modules/$name" ;;
      *) die "unexpected module file $path" ;;
    esac
    order+=("$name")
  done <<<"$lines"
done
printf '%s\n' "${order[@]}" >"$initramfs/modules/order"
log "modules: ${order[*]%.ko}"

(cd "$initramfs" && find . -mindepth 1 | LC_ALL=C sort |
  cpio --quiet -o -H newc -R 0:0 --reproducible) | gzip -9n >"$staging/initrd.gz"
cp "$tree/boot/vmlinuz-$kernel_version" "$staging/vmlinuz"
# QEMU boots an uncompressed ELF vmlinux through its PVH entry point
# (CONFIG_PVH=y), which skips the decompressor: about 2.5 s less per boot
# under TCG. Debian compresses the kernel with xz; the payload starts at the
# first xz magic inside the bzImage.
rm -f "$cache/vmlinux"
offset=$(LC_ALL=C grep -obUaP '\xfd7zXZ\x00' "$staging/vmlinuz" | head -n1 | cut -d: -f1 || true)
if grep -qx 'CONFIG_PVH=y' "$tree/boot/config-$kernel_version" && [[ -n $offset ]]; then
  # xz stops after the stream, so tail may die of SIGPIPE: judge by the output.
  { tail -c "+$((offset + 1))" "$staging/vmlinuz" | xz -dc --single-stream >"$staging/vmlinux"; } 2>/dev/null || true
fi
if [[ -s $staging/vmlinux && $(LC_ALL=C od -An -c -N4 "$staging/vmlinux" | tr -d ' ') == 177ELF ]]; then
  mv "$staging/vmlinux" "$cache/vmlinux"
else
  log "note: no PVH-capable ELF vmlinux in this bzImage; the guest boots the compressed kernel (slower)"
fi
mv "$staging/initrd.gz" "$cache/initrd.gz"
mv "$staging/vmlinuz" "$cache/vmlinuz"
printf '%s\n' "$stamp_text" >"$cache/stamp"
rm -rf "$tree"
log "ready: $cache/vmlinuz and initrd.gz ($(du -k "$cache/initrd.gz" | cut -f1) KiB), kernel $kernel_version"
