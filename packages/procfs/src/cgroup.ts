import { join } from 'node:path';
import { errnoOf, toSystemError } from '@bulwark/errors';
import {
  type FileAccess,
  type ProcfsOptions,
  type ReadContext,
  asynchronousFileAccess,
  createContext,
  inOperation,
  readProcFile,
} from './context.js';
import { type CgroupLayout, parseCgroupFile, parseMountRoot, pathUnderMountRoot } from './parse.js';

export interface CgroupInfo {
  /**
   * The process's cgroup v2 (unified) path, '/' based, relative to the
   * reader's cgroup namespace. Empty when layout is 'v1' (no unified hierarchy).
   */
  path: string;
  /** The cgroup v2 id: the inode of the cgroup's directory under the v2 mount. Undefined when that directory is not visible. */
  id?: bigint;
  /** That directory, e.g. /sys/fs/cgroup/system.slice/foo.scope; undefined with id. */
  directory?: string;
  /** v1 controller list as the kernel prints it -> path: `{ memory: '/x', 'cpu,cpuacct': '/x', 'name=systemd': '/x' }`. */
  v1: Record<string, string>;
  /** 'v2': unified only; 'hybrid': v1 controllers plus a unified hierarchy; 'v1': no unified hierarchy. */
  layout: CgroupLayout;
}

/** statfs f_type of cgroup2 (CGROUP2_SUPER_MAGIC in linux/magic.h). */
const cgroup2SuperMagic = 0x63677270;

async function filesystemType(files: FileAccess, path: string): Promise<number | undefined> {
  try {
    return await files.statfsType(path);
  } catch {
    return undefined;
  }
}

async function isFile(files: FileAccess, path: string): Promise<boolean> {
  try {
    return (await files.stat(path)).isFile();
  } catch {
    return false;
  }
}

/**
 * Where the unified hierarchy is mounted: cgroupRoot itself when it is
 * cgroup2 (a v2 host), else cgroupRoot/unified (systemd's hybrid layout).
 * Fixture trees are not cgroup2 filesystems; there a directory holding a
 * cgroup.controllers file (which only cgroup2 has) stands in for the mount.
 */
export async function findUnifiedMount(cgroupRoot: string, files: FileAccess = asynchronousFileAccess): Promise<string | undefined> {
  const candidates = [cgroupRoot, join(cgroupRoot, 'unified')];
  for (const candidate of candidates) {
    if ((await filesystemType(files, candidate)) === cgroup2SuperMagic) return candidate;
  }
  for (const candidate of candidates) {
    if (await isFile(files, join(candidate, 'cgroup.controllers'))) return candidate;
  }
  return undefined;
}

/**
 * The root of the unified mount as the reader's /proc/self/mountinfo shows
 * it: '/' when the mount shows the reader's whole cgroup namespace, '/..'
 * when it is a host mount seen from a nested cgroup namespace. Fixture trees
 * have no self/mountinfo; their mounts count as '/'.
 */
async function readMountRoot(context: ReadContext, mount: string): Promise<string> {
  let text: string;
  try {
    text = await context.files.readFile(join(context.procRoot, 'self', 'mountinfo'));
  } catch {
    return '/';
  }
  return parseMountRoot(text, mount, 'cgroup2') ?? '/';
}

/** The directory and id of a v2 cgroup path, or undefined when it is not visible from here. */
async function findCgroupDirectory(context: ReadContext, path: string): Promise<{ directory: string; id: bigint } | undefined> {
  const mount = await findUnifiedMount(context.cgroupRoot, context.files);
  if (mount === undefined) return undefined;
  // Paths with '..' lie outside the reader's cgroup namespace, and a mount
  // rooted outside it (a host mount seen from a nested namespace) shows no
  // directory for them: no id rather than the id of some other cgroup.
  const relative = pathUnderMountRoot(path, await readMountRoot(context, mount));
  if (relative === undefined) return undefined;
  const directory = join(mount, relative);
  try {
    const found = await context.files.statBigint(directory);
    return found.isDirectory() ? { directory, id: found.ino } : undefined;
  } catch (error) {
    const errno = errnoOf(error);
    if (errno === 'ENOENT' || errno === 'ENOTDIR') return undefined;
    throw toSystemError(context.operation, error, directory);
  }
}

export async function readCgroupIn(context: ReadContext): Promise<CgroupInfo> {
  const { text, path: source } = await readProcFile(context, 'cgroup');
  const parsed = inOperation(context, () => parseCgroupFile(text, source));
  const info: CgroupInfo = { path: parsed.v2Path ?? '', v1: parsed.v1, layout: parsed.layout };
  if (parsed.v2Path !== undefined) {
    const found = await findCgroupDirectory(context, parsed.v2Path);
    if (found !== undefined) {
      info.id = found.id;
      info.directory = found.directory;
    }
  }
  return info;
}

/**
 * The cgroups of a process from /proc/<pid>/cgroup, with the v2 cgroup id
 * (the inode of its directory under the unified mount). The unified mount
 * is cgroupRoot if that is cgroup2, else cgroupRoot/unified. Paths are
 * relative to the reader's cgroup namespace; when the process's cgroup has
 * no directory under the mount from here (another cgroup namespace, a mount
 * rooted elsewhere, a cgroup removed meanwhile), id and directory are left
 * undefined.
 */
export async function readCgroup(pid: number, options?: ProcfsOptions): Promise<CgroupInfo> {
  return readCgroupIn(createContext('read cgroup', pid, options));
}

/** The v1 path of one controller (`cpu` finds the `cpu,cpuacct` entry), or undefined. */
export function cgroupV1Path(info: Pick<CgroupInfo, 'v1'>, controller: string): string | undefined {
  for (const [controllers, path] of Object.entries(info.v1)) {
    if (controllers.split(',').includes(controller)) return path;
  }
  return undefined;
}
