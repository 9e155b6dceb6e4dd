/**
 * Running a test's child as nobody (uid and gid 65534, no groups) from any
 * checkout path. Under /root (0700), nobody cannot reach the checkout's
 * Node or sources, so the child runs in a mount namespace of its own in
 * which the first directory on the way that others cannot enter is
 * covered by a tmpfs they can, with the checkout bound back at its own
 * path: every path stays as it is, and nothing changes on the host (no
 * mode, no mount, no file left behind).
 */
import { fileURLToPath } from 'node:url';

const checkout = fileURLToPath(new URL('..', import.meta.url)).replace(/\/$/u, '');

const NOBODY = ['--reuid=65534', '--regid=65534', '--clear-groups'] as const;

const script = `
set -eu
root=$1
shift
if setpriv ${NOBODY.join(' ')} test -x "$root" -a -r "$root"; then exec "$@"; fi
blocked=
path=
old_ifs=$IFS
IFS=/
set -f
for part in \${root#/}; do
  path="$path/$part"
  if ! setpriv ${NOBODY.join(' ')} test -x "$path"; then blocked=$path; break; fi
done
IFS=$old_ifs
set +f
view=$(mktemp -d /tmp/bulwark-nobody-view-XXXXXX)
# A step that fails leaves no directory behind on the host (the mounts go with the namespace).
trap 'umount -l "$view" 2>/dev/null; rmdir "$view" 2>/dev/null' EXIT
mount --bind "$root" "$view"
mount -t tmpfs -o mode=0755 bulwark-nobody-view "$blocked"
mkdir -p "$root"
mount --bind "$view" "$root"
umount -l "$view"
rmdir "$view"
trap - EXIT
exec "$@"
`;

/**
 * A command prefix: the command after it runs as nobody, through setpriv
 * with `setprivArguments` added, the checkout (or `root`, a directory of
 * the caller's) reachable at its own path.
 */
export function asNobodyPrefix(setprivArguments: readonly string[] = [], root: string = checkout): string[] {
  return ['unshare', '--mount', '--propagation', 'private', 'sh', '-c', script, 'bulwark-as-nobody', root, 'setpriv', ...NOBODY, ...setprivArguments];
}
