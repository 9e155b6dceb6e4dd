/**
 * The main job, end to end on this machine: start the agent, install the hook
 * into a runc bundle, run a container, and list it with `bulwark containers`.
 * Run it with `./run demo` (which sets up Node 24 and builds first).
 */
import { mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import {
  agentBundle,
  installHook,
  makeBundle,
  makeRootfs,
  makeTemporaryDirectory,
  removeDirectory,
  requireBuild,
  runChecked,
  runCommand,
  runDetached,
  startAgentProcess,
} from '../test-support/containers.ts';

const step = (text: string) => process.stdout.write(`\n==> ${text}\n`);

async function main(): Promise<number> {
  if (process.getuid?.() !== 0) {
    process.stderr.write('demo: runc needs root; run it as root (sudo ./run demo)\n');
    return 1;
  }
  await requireBuild();
  const work = await makeTemporaryDirectory('demo');
  const run = join(work, 'run');
  await mkdir(run, { mode: 0o700 });
  const paths = {
    hookSocket: join(run, 'hook.sock'),
    controlSocket: join(run, 'control.sock'),
    stateFile: join(work, 'state', 'containers.json'),
    runcRoot: join(work, 'runc'),
    crunRoot: join(work, 'crun'),
  };
  const id = 'bulwark-demo';
  step(`working in ${work}`);
  const agent = await startAgentProcess(paths, ['--log-format', 'json']);
  try {
    step(`agent running (pid ${agent.process.pid}), hook socket ${paths.hookSocket}`);

    step('building a busybox bundle and installing the hook into its config.json');
    const rootfs = await makeRootfs(work);
    const bundle = await makeBundle(join(work, 'bundle'), { rootfs, args: ['sleep', '600'] });
    const installed = await installHook({ runtime: 'runc', target: bundle, work, socket: paths.hookSocket, failMode: 'closed' });
    process.stdout.write(installed.stdout);

    step(`runc run --detach ${id}`);
    const started = await runDetached('runc', ['--root', paths.runcRoot, 'run', '--detach', '--bundle', bundle, id]);
    if (started.code !== 0) throw new Error(`runc run failed: ${started.stderr.trim()}`);
    const registered = await agent.waitForLog((line) => line.message === 'container registered' && line.id === id);
    process.stdout.write(`agent: container registered (pid ${String(registered.pid)}) before its process ran\n`);

    step('bulwark containers');
    const listed = await runChecked(process.execPath, [agentBundle, 'containers', '--control-socket', paths.controlSocket]);
    process.stdout.write(listed.stdout);

    step(`runc delete --force ${id} (the poststop hook unregisters it)`);
    await runChecked('runc', ['--root', paths.runcRoot, 'delete', '--force', id]);
    await agent.waitForLog((line) => line.message === 'container removed' && line.id === id);
    const after = await runChecked(process.execPath, [agentBundle, 'containers', '--control-socket', paths.controlSocket]);
    process.stdout.write(after.stdout);
    step('done');
    return 0;
  } finally {
    await runCommand('runc', ['--root', paths.runcRoot, 'delete', '--force', id]);
    await agent.stop();
    await removeDirectory(work);
  }
}

main().then(
  (code) => (process.exitCode = code),
  (error: unknown) => {
    process.stderr.write(`demo: ${error instanceof Error ? error.message : String(error)}\n`);
    process.exitCode = 1;
  },
);
