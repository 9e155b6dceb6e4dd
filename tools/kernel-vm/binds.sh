#!/usr/bin/env bash
# Prints the binds file that run.sh gives the guest (guest-init.sh reads it):
# the host folders the job needs that the guest covers with a tmpfs of its own
# (/tmp, /run, /dev/shm), put back read-only, one a line: "bind<TAB>PATH" or
# "link<TAB>PATH<TAB>TARGET". DIR is the job's current folder (the checkout,
# symbolic links resolved): itself, and the ../shared beside it (a folder or
# a symbolic link, whose target is put back too when a tmpfs covers it).
# Anywhere else, the guest sees the folder through the host's root as it is.
set -euo pipefail
if (($# != 1)) || [[ $1 != /* ]]; then
  echo 'usage: tools/kernel-vm/binds.sh DIR (an absolute path)' >&2
  exit 2
fi
cwd=$1
under_tmpfs() { case "$1" in /tmp/?* | /run/?* | /dev/shm/?*) return 0 ;; esac; return 1; }
# One entry a line, its fields split at tabs: a path with either cannot be written.
writable() {
  if [[ $1 == *$'\t'* || $1 == *$'\n'* ]]; then
    printf 'kernel-vm: %q has a tab or a newline in its path: it cannot be put back in the guest\n' "$1" >&2
    exit 1
  fi
}
if under_tmpfs "$cwd"; then
  writable "$cwd"
  printf 'bind\t%s\n' "$cwd"
fi
shared=$(dirname -- "$cwd")/shared
if [[ -L $shared ]]; then
  target=$(readlink -f -- "$shared")
  if under_tmpfs "$target" && [[ $target != "$cwd" && $target != "$cwd"/* ]]; then
    writable "$target"
    printf 'bind\t%s\n' "$target"
  fi
  if under_tmpfs "$shared"; then
    writable "$shared"
    writable "$target"
    printf 'link\t%s\t%s\n' "$shared" "$target"
  fi
elif [[ -d $shared ]]; then
  resolved=$(cd -- "$shared" && pwd -P)
  if under_tmpfs "$resolved"; then
    writable "$resolved"
    printf 'bind\t%s\n' "$resolved"
  fi
fi
