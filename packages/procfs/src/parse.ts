/**
 * Pure parsers for the text of /proc files: same input, same output, no
 * filesystem. Readers elsewhere fetch the text and hand it here; tests feed
 * them strings. Every parser names the file it was given (`source`) in its
 * ValidationError.
 */
import { ValidationError } from '@bulwark/errors';

function invalid(source: string, path: string, message: string, line?: number): ValidationError {
  return new ValidationError(source, [line === undefined ? { path, message } : { path, message, line }]);
}

const decimal = /^\d+$/;
const hexadecimal = /^[0-9a-fA-F]+$/;

// ---------------------------------------------------------------- /proc/<pid>/stat

export interface ProcStat {
  pid: number;
  /** The command name exactly as the kernel keeps it (not escaped, unlike status's Name). */
  comm: string;
  /** One letter: R, S, D, Z, T, t, X, I, ... */
  state: string;
  ppid: number;
  /** Field 22: clock ticks after boot at which the process started. */
  startTime: bigint;
}

/**
 * Parses /proc/<pid>/stat. The comm field sits in parentheses and may itself
 * hold spaces and ')', so it runs from the first '(' to the LAST ')'; the
 * fields after it are counted from there (field 3 is the state).
 */
export function parseProcStat(text: string, source: string): ProcStat {
  const open = text.indexOf('(');
  const close = text.lastIndexOf(')');
  if (open < 0 || close < open) {
    throw invalid(source, '', 'expected "pid (comm) state ..."');
  }
  const pidText = text.slice(0, open).trim();
  const comm = text.slice(open + 1, close);
  const fields = text.slice(close + 1).trim().split(/\s+/);
  // fields[0] is field 3, so field n is fields[n - 3].
  const state = fields[0] ?? '';
  const ppidText = fields[4 - 3] ?? '';
  const startTimeText = fields[22 - 3] ?? '';
  if (!decimal.test(pidText)) throw invalid(source, 'pid (field 1)', `expected a decimal number, got "${pidText}"`);
  if (!/^[A-Za-z]$/.test(state)) throw invalid(source, 'state (field 3)', `expected one letter, got "${state}"`);
  if (!decimal.test(ppidText)) throw invalid(source, 'ppid (field 4)', `expected a decimal number, got "${ppidText}"`);
  if (!decimal.test(startTimeText)) {
    throw invalid(source, 'starttime (field 22)', `expected a decimal number, got "${startTimeText}"`);
  }
  return { pid: Number(pidText), comm, state, ppid: Number(ppidText), startTime: BigInt(startTimeText) };
}

/** Z (zombie) and X (dead): the process has exited and only its pid and exit status remain. */
export function hasExited(state: string): boolean {
  return state === 'Z' || state === 'X';
}

// ---------------------------------------------------------------- /proc/<pid>/status

/** Real, effective, saved and filesystem ids, in the order the kernel prints them. */
export interface IdSet {
  real: number;
  effective: number;
  saved: number;
  filesystem: number;
}

/** The five capability sets as 64-bit masks; bit n is capability n (see capabilityNames). */
export interface CapabilitySets {
  inheritable: bigint;
  permitted: bigint;
  effective: bigint;
  bounding: bigint;
  ambient: bigint;
}

export type SeccompMode = 'disabled' | 'strict' | 'filter';

export interface ProcStatus {
  ppid: number;
  uids: IdSet;
  gids: IdSet;
  capabilities: CapabilitySets;
  noNewPrivs: boolean;
  seccomp: SeccompMode;
}

const seccompModes: Record<string, SeccompMode> = { '0': 'disabled', '1': 'strict', '2': 'filter' };

/**
 * Parses the fields of /proc/<pid>/status this package needs. CapAmb (Linux
 * 4.3), NoNewPrivs (4.10) and Seccomp (absent without CONFIG_SECCOMP) default
 * to 0, false and 'disabled' when the kernel does not print them.
 */
export function parseProcStatus(text: string, source: string): ProcStatus {
  const fields = new Map<string, { value: string; line: number }>();
  text.split('\n').forEach((row, index) => {
    const colon = row.indexOf(':');
    if (colon > 0) fields.set(row.slice(0, colon), { value: row.slice(colon + 1).trim(), line: index + 1 });
  });

  const field = (name: string): { value: string; line: number } => {
    const found = fields.get(name);
    if (found === undefined) throw invalid(source, name, 'missing');
    return found;
  };
  const number = (name: string): number => {
    const { value, line } = field(name);
    if (!decimal.test(value)) throw invalid(source, name, `expected a decimal number, got "${value}"`, line);
    return Number(value);
  };
  const ids = (name: string): IdSet => {
    const { value, line } = field(name);
    const parts = value.split(/\s+/);
    const [real, effective, saved, filesystem] = parts;
    if (parts.length !== 4 || real === undefined || effective === undefined || saved === undefined || filesystem === undefined || !parts.every((part) => decimal.test(part))) {
      throw invalid(source, name, `expected four decimal ids, got "${value}"`, line);
    }
    return { real: Number(real), effective: Number(effective), saved: Number(saved), filesystem: Number(filesystem) };
  };
  const mask = (name: string, optional = false): bigint => {
    if (optional && !fields.has(name)) return 0n;
    const { value, line } = field(name);
    if (!hexadecimal.test(value)) throw invalid(source, name, `expected a hexadecimal mask, got "${value}"`, line);
    return BigInt(`0x${value}`);
  };

  let noNewPrivs = false;
  const noNewPrivsField = fields.get('NoNewPrivs');
  if (noNewPrivsField !== undefined) {
    if (noNewPrivsField.value !== '0' && noNewPrivsField.value !== '1') {
      throw invalid(source, 'NoNewPrivs', `expected 0 or 1, got "${noNewPrivsField.value}"`, noNewPrivsField.line);
    }
    noNewPrivs = noNewPrivsField.value === '1';
  }

  let seccomp: SeccompMode = 'disabled';
  const seccompField = fields.get('Seccomp');
  if (seccompField !== undefined) {
    const mode = seccompModes[seccompField.value];
    if (mode === undefined) throw invalid(source, 'Seccomp', `expected 0, 1 or 2, got "${seccompField.value}"`, seccompField.line);
    seccomp = mode;
  }

  return {
    ppid: number('PPid'),
    uids: ids('Uid'),
    gids: ids('Gid'),
    capabilities: {
      inheritable: mask('CapInh'),
      permitted: mask('CapPrm'),
      effective: mask('CapEff'),
      bounding: mask('CapBnd'),
      ambient: mask('CapAmb', true),
    },
    noNewPrivs,
    seccomp,
  };
}

// ---------------------------------------------------------------- /proc/<pid>/cgroup

export type CgroupLayout = 'v2' | 'hybrid' | 'v1';

export interface CgroupFile {
  /** The path of the `0::` line, if there is one. */
  v2Path: string | undefined;
  /** Controller list as the kernel prints it (`cpu,cpuacct`, `name=systemd`) -> path. */
  v1: Record<string, string>;
  layout: CgroupLayout;
}

/**
 * Parses /proc/<pid>/cgroup: `0::/path` for the unified (v2) hierarchy and
 * `N:controller,list:/path` for each v1 hierarchy. Paths may contain ':', so
 * each line is split at its first two colons only. The layout follows from
 * which kinds of line appear: only `0::` is 'v2', both is 'hybrid', only v1
 * lines is 'v1' (the kernel prints no `0::` line until cgroup2 is mounted).
 */
export function parseCgroupFile(text: string, source: string): CgroupFile {
  let v2Path: string | undefined;
  const v1: Record<string, string> = {};
  let v1Count = 0;
  text.split('\n').forEach((row, index) => {
    if (row === '') return;
    const line = index + 1;
    const first = row.indexOf(':');
    const second = first < 0 ? -1 : row.indexOf(':', first + 1);
    if (second < 0) throw invalid(source, '', `expected "hierarchy:controllers:path", got "${row}"`, line);
    const hierarchy = row.slice(0, first);
    const controllers = row.slice(first + 1, second);
    const path = row.slice(second + 1);
    if (!decimal.test(hierarchy)) throw invalid(source, 'hierarchy', `expected a decimal id, got "${hierarchy}"`, line);
    if (!path.startsWith('/')) throw invalid(source, 'path', `expected a path starting with /, got "${path}"`, line);
    if (hierarchy === '0') {
      if (controllers !== '') throw invalid(source, 'controllers', `expected none for hierarchy 0, got "${controllers}"`, line);
      v2Path = path;
    } else {
      if (controllers === '') throw invalid(source, 'controllers', `expected a controller list for hierarchy ${hierarchy}`, line);
      v1[controllers] = path;
      v1Count += 1;
    }
  });
  if (v2Path === undefined && v1Count === 0) throw invalid(source, '', 'expected at least one cgroup line');
  const layout: CgroupLayout = v2Path === undefined ? 'v1' : v1Count === 0 ? 'v2' : 'hybrid';
  return { v2Path, v1, layout };
}

// ---------------------------------------------------------------- attr and ns

/** The text of an attr/current file without trailing NULs, newlines and spaces; undefined when empty. */
export function parseLsmLabel(text: string): string | undefined {
  const label = text.replace(/[\0\s]+$/, '').trim();
  return label === '' ? undefined : label;
}

/** The inode in a namespace link target such as `mnt:[4026531840]`, or undefined if it is not one for `type`. */
export function parseNamespaceLink(target: string, type: string): number | undefined {
  const match = /^([a-z_]+):\[(\d+)\]$/.exec(target);
  if (match?.[1] !== type || match[2] === undefined) return undefined;
  const inode = Number(match[2]);
  return Number.isSafeInteger(inode) ? inode : undefined;
}

// ---------------------------------------------------------------- mountinfo

/** Undoes the octal escapes (\040 for space, \011, \012, \134) that mountinfo uses in paths. */
function unescapeMountPath(text: string): string {
  return text.replace(/\\([0-7]{3})/g, (_, octal: string) => String.fromCharCode(Number.parseInt(octal, 8)));
}

/**
 * The root (field 4) of the topmost mount of `fstype` at `mountPoint` in a
 * /proc/<pid>/mountinfo text, or undefined if there is none. For cgroup
 * filesystems the kernel prints the root relative to the reader's cgroup
 * namespace, so a host mount seen from a nested namespace reads `/..`.
 */
export function parseMountRoot(text: string, mountPoint: string, fstype: string): string | undefined {
  let root: string | undefined;
  for (const row of text.split('\n')) {
    const fields = row.split(' ');
    const separator = fields.indexOf('-');
    if (separator < 6 || fields[separator + 1] !== fstype) continue;
    const [, , , rootField, pointField] = fields;
    if (rootField !== undefined && pointField !== undefined && unescapeMountPath(pointField) === mountPoint) {
      root = unescapeMountPath(rootField);
    }
  }
  return root;
}

/**
 * `path` (a cgroup path relative to the reader's cgroup namespace) as a path
 * under a mount whose root is `root`, or undefined if the mount does not
 * show it: when either lies outside the namespace ('..') or the path is not
 * below the mount's root.
 */
export function pathUnderMountRoot(path: string, root: string): string | undefined {
  if (path.split('/').includes('..') || root.split('/').includes('..')) return undefined;
  const base = root.replace(/\/+$/, '');
  if (base === '') return path;
  if (path === base) return '/';
  return path.startsWith(`${base}/`) ? path.slice(base.length) : undefined;
}
