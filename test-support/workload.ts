/**
 * Containers for the kernel-tier end-to-end tests: bundles over one root
 * file system with the built hook installed once (fail-closed by default),
 * Docker's default capabilities, optionally joined to a given network
 * namespace; run to completion, or detached with a way to stop them.
 */
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { installHook, makeBundle, runCommand, runDetached, type CommandResult } from './containers.ts';

/** Docker's default capabilities (what a Kubernetes pod's container gets), which su, ping and arping need. */
export const DEFAULT_CAPABILITIES = [
  'CAP_CHOWN',
  'CAP_DAC_OVERRIDE',
  'CAP_FSETID',
  'CAP_FOWNER',
  'CAP_MKNOD',
  'CAP_NET_RAW',
  'CAP_SETGID',
  'CAP_SETUID',
  'CAP_SETFCAP',
  'CAP_SETPCAP',
  'CAP_NET_BIND_SERVICE',
  'CAP_SYS_CHROOT',
  'CAP_KILL',
  'CAP_AUDIT_WRITE',
];

interface BundleConfig {
  process: { args: string[]; env: string[]; cwd: string; user: { uid: number; gid: number }; capabilities: Record<string, string[]>; noNewPrivileges?: boolean };
  root: { path: string; readonly: boolean };
  hostname: string;
  annotations?: Record<string, string>;
  mounts: { destination: string; type: string; source: string; options?: string[] }[];
  linux: { namespaces: { type: string; path?: string }[] };
}

export interface ContainerSpec {
  readonly id: string;
  readonly args: readonly string[];
  readonly annotations: Readonly<Record<string, string>>;
  readonly hostname?: string;
  /** Host directories bind-mounted: [source, destination, readOnly]. */
  readonly binds?: readonly (readonly [string, string, boolean])[];
}

/**
 * Bundles for one root file system, the hook installed fail-closed once (in
 * a template whose config.json each container copies).
 */
export class WorkloadBundles {
  readonly #work: string;
  readonly #template: BundleConfig;

  private constructor(work: string, template: BundleConfig) {
    this.#work = work;
    this.#template = template;
  }

  /** `namespacePath`: a network namespace to join instead of a new one. */
  static async create(options: { work: string; rootfs: string; hookSocket: string; namespacePath?: string; failMode?: 'open' | 'closed' }): Promise<WorkloadBundles> {
    const template = join(options.work, 'bundles', 'template');
    await makeBundle(template, { rootfs: options.rootfs, args: ['/bin/true'] });
    await installHook({ runtime: 'runc', target: template, work: options.work, socket: options.hookSocket, failMode: options.failMode ?? 'closed' });
    const config = JSON.parse(await readFile(join(template, 'config.json'), 'utf8')) as BundleConfig;
    config.root.readonly = false;
    config.process.env = ['PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin', 'HOME=/root', 'TERM=xterm'];
    config.process.capabilities = { bounding: DEFAULT_CAPABILITIES, effective: DEFAULT_CAPABILITIES, permitted: DEFAULT_CAPABILITIES };
    // su changes user: Docker does not set no_new_privs either.
    config.process.noNewPrivileges = false;
    if (options.namespacePath !== undefined) {
      config.linux.namespaces = config.linux.namespaces.map((namespace) => (namespace.type === 'network' ? { type: 'network', path: options.namespacePath! } : namespace));
    }
    return new WorkloadBundles(options.work, config);
  }

  /** Writes the container's bundle and returns its directory. */
  async bundle(spec: ContainerSpec): Promise<string> {
    const directory = join(this.#work, 'bundles', spec.id);
    await mkdir(directory, { recursive: true });
    const config = structuredClone(this.#template);
    config.process.args = [...spec.args];
    config.hostname = spec.hostname ?? spec.id;
    config.annotations = { ...config.annotations, ...spec.annotations };
    for (const [source, destination, readOnly] of spec.binds ?? []) config.mounts.push({ destination, type: 'bind', source, options: ['rbind', readOnly ? 'ro' : 'rw'] });
    await writeFile(join(directory, 'config.json'), JSON.stringify(config, null, 2));
    return directory;
  }
}

/** `runc run` to completion; stdout and stderr together in `output`. */
export async function runContainer(runcRoot: string, bundle: string, id: string, timeoutMs = 120_000): Promise<CommandResult & { output: string }> {
  const result = await runCommand('runc', ['--root', runcRoot, 'run', '--bundle', bundle, id], { timeoutMs });
  return { ...result, output: `${result.stdout}${result.stderr}` };
}

/** `runc run --detach`: resolves once the container runs (its first process started); the result is runc's. */
export async function startDetachedContainer(runcRoot: string, bundle: string, id: string): Promise<CommandResult> {
  return runDetached('runc', ['--root', runcRoot, 'run', '--detach', '--bundle', bundle, id]);
}

/** Kills and deletes a container (its poststop hook runs), whatever state it is in; never throws. */
export async function deleteContainer(runcRoot: string, id: string): Promise<void> {
  await runCommand('runc', ['--root', runcRoot, 'delete', '--force', id]).catch(() => undefined);
}
