/**
 * What the end-to-end enforcement test and the demo share: a busybox
 * workload with the files the example policies name, and one runc container
 * run to completion with the hook, its output kept.
 */
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { installHook, makeBundle, makeRootfs, runCommand } from './containers.ts';

/** The rootfs, with /var/lib/mysql/ibdata1, /etc/secret and /sbin/. */
export async function makeEnforceRootfs(work: string): Promise<string> {
  const rootfs = await makeRootfs(work);
  await mkdir(join(rootfs, 'var/lib/mysql'), { recursive: true });
  await writeFile(join(rootfs, 'var/lib/mysql/ibdata1'), 'rows\n');
  await writeFile(join(rootfs, 'etc/secret'), 's3cret\n');
  await mkdir(join(rootfs, 'sbin'), { recursive: true });
  return rootfs;
}

export interface ContainerRun {
  /** runc's exit status. */
  readonly status: number | null;
  /** What the script printed, then `exit=N`. */
  readonly result: string;
}

/**
 * Runs `script` as the container's command (its first instruction) with
 * the hook installed fail-closed, labelled by `annotations`, and returns
 * what it printed. The root file system is writable, so that a refused
 * write is the enforcer's doing and not EROFS.
 */
export async function runHookedContainer(options: {
  work: string;
  rootfs: string;
  runcRoot: string;
  hookSocket: string;
  name: string;
  script: string;
  annotations?: Record<string, string>;
  /** Its capabilities (default `runc spec`'s; DOCKER_DEFAULT_CAPABILITIES for a default root container). */
  capabilities?: readonly string[];
  /** false: run it without the hook (in no scope), a control. */
  hook?: boolean;
}): Promise<ContainerRun> {
  const { work, name } = options;
  const bundle = join(work, 'bundles', name);
  const out = join(work, 'out', name);
  await mkdir(out, { recursive: true });
  await makeBundle(bundle, { rootfs: options.rootfs, args: ['/bin/sh', '-c', `{ ${options.script} ; } > /out/result 2>&1; echo "exit=$?" >> /out/result`], binds: [[out, '/out', false]], ...(options.capabilities === undefined ? {} : { capabilities: options.capabilities }) });
  const configPath = join(bundle, 'config.json');
  const config = JSON.parse(await readFile(configPath, 'utf8')) as { annotations?: Record<string, string>; root: { readonly: boolean } };
  config.annotations = { ...config.annotations, ...options.annotations };
  config.root.readonly = false;
  await writeFile(configPath, JSON.stringify(config, null, 2));
  if (options.hook !== false) await installHook({ runtime: 'runc', target: bundle, work, socket: options.hookSocket, failMode: 'closed' });
  const run = await runCommand('runc', ['--root', options.runcRoot, 'run', '--bundle', bundle, name], { timeoutMs: 120_000 });
  let result: string;
  try {
    result = await readFile(join(out, 'result'), 'utf8');
  } catch {
    result = `(no result) runc: ${run.stderr.trim()}`;
  }
  return { status: run.code, result };
}

/** The alert file's records (JSON lines), as they are now. */
export async function readAlerts(file: string): Promise<Record<string, unknown>[]> {
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch {
    return [];
  }
  return text
    .split('\n')
    .filter((line) => line.trim() !== '')
    .map((line) => JSON.parse(line) as Record<string, unknown>);
}
