import { readFile, readdir, realpath, stat } from 'node:fs/promises';
import { spawnSync } from 'node:child_process';
import { release } from 'node:os';
import { describeError, errnoOf } from '@bulwark/errors';
import { checkHookInterpreter } from './hook-interpreter.js';
import { DEFAULT_HOOK_PATH } from './install-hook.js';

/**
 * What this machine offers Bulwark. Each answer is supported, unsupported
 * (with what is missing) or inconclusive (the probe itself could not tell,
 * for example for lack of permission).
 */
export type ProbeStatus = 'supported' | 'unsupported' | 'inconclusive';

export interface ProbeResult {
  readonly name: string;
  readonly status: ProbeStatus;
  readonly detail: string;
}

async function readText(path: string): Promise<string> {
  return (await readFile(path, 'utf8')).trim();
}

function inconclusive(name: string, error: unknown): ProbeResult {
  return { name, status: 'inconclusive', detail: describeError(error) };
}

async function probeBpfLsm(): Promise<ProbeResult> {
  const name = 'bpf lsm';
  try {
    const list = await readText('/sys/kernel/security/lsm');
    return list.split(',').includes('bpf')
      ? { name, status: 'supported', detail: `active lsms: ${list}` }
      : { name, status: 'unsupported', detail: `/sys/kernel/security/lsm lacks bpf (${list}); boot with lsm=...,bpf` };
  } catch (error) {
    if (errnoOf(error) === 'ENOENT') {
      return { name, status: 'inconclusive', detail: 'securityfs not mounted at /sys/kernel/security' };
    }
    return inconclusive(name, error);
  }
}

async function probeBtf(): Promise<ProbeResult> {
  const name = 'btf';
  try {
    const info = await stat('/sys/kernel/btf/vmlinux');
    return { name, status: 'supported', detail: `/sys/kernel/btf/vmlinux (${info.size} bytes)` };
  } catch (error) {
    if (errnoOf(error) === 'ENOENT') return { name, status: 'unsupported', detail: '/sys/kernel/btf/vmlinux missing (CONFIG_DEBUG_INFO_BTF)' };
    return inconclusive(name, error);
  }
}

async function mounts(): Promise<{ target: string; type: string }[]> {
  const text = await readText('/proc/self/mounts');
  return text.split('\n').map((line) => {
    const fields = line.split(' ');
    return { target: fields[1] ?? '', type: fields[2] ?? '' };
  });
}

async function probeBpffs(): Promise<ProbeResult> {
  const name = 'bpffs';
  try {
    const found = (await mounts()).find((mount) => mount.type === 'bpf');
    return found === undefined
      ? { name, status: 'unsupported', detail: 'no bpf filesystem mounted (mount -t bpf bpf /sys/fs/bpf)' }
      : { name, status: 'supported', detail: `mounted at ${found.target}` };
  } catch (error) {
    return inconclusive(name, error);
  }
}

async function probeCgroups(): Promise<ProbeResult> {
  const name = 'cgroup layout';
  try {
    const all = await mounts();
    const v2 = all.filter((mount) => mount.type === 'cgroup2').map((mount) => mount.target);
    const v1 = all.filter((mount) => mount.type === 'cgroup').length;
    const layout = v2.length > 0 && v1 > 0 ? 'hybrid' : v2.length > 0 ? 'v2' : v1 > 0 ? 'v1' : 'none';
    return {
      name,
      status: layout === 'none' ? 'unsupported' : 'supported',
      detail: `${layout}${v2.length > 0 ? `, cgroup2 at ${v2.join(', ')}` : ''}${v1 > 0 ? `, ${v1} v1 hierarchies` : ''}`,
    };
  } catch (error) {
    return inconclusive(name, error);
  }
}

function probeRuntime(command: string): ProbeResult {
  const result = spawnSync(command, ['--version'], { encoding: 'utf8', timeout: 5000 });
  if (result.error !== undefined) {
    return errnoOf(result.error) === 'ENOENT'
      ? { name: command, status: 'unsupported', detail: 'not found on PATH' }
      : inconclusive(command, result.error);
  }
  const line = result.stdout.split('\n').find((text) => text.trim() !== '') ?? '';
  return { name: command, status: 'supported', detail: line.trim() };
}

async function probeLibbpf(): Promise<ProbeResult> {
  const name = 'libbpf';
  const directories = ['/usr/lib/x86_64-linux-gnu', '/usr/lib/aarch64-linux-gnu', '/usr/lib64', '/usr/lib', '/lib/x86_64-linux-gnu'];
  for (const directory of directories) {
    let entries: string[];
    try {
      entries = await readdir(directory);
    } catch {
      continue;
    }
    if (!entries.includes('libbpf.so.1')) continue;
    const target = await realpath(`${directory}/libbpf.so.1`);
    const version = /libbpf\.so\.(\d+\.\d+\.\d+)$/.exec(target)?.[1];
    return { name, status: 'supported', detail: `${target}${version === undefined ? '' : ` (version ${version})`}` };
  }
  return { name, status: 'unsupported', detail: 'libbpf.so.1 not found (apt-get install libbpf1)' };
}

/** Whether the installed hook can start: the interpreter its shebang names exists and runs as Node 24. */
async function probeHookInterpreter(hookPath: string): Promise<ProbeResult> {
  const name = 'hook interpreter';
  const check = await checkHookInterpreter(hookPath);
  const status = check.status === 'ok' ? 'supported' : check.status === 'inconclusive' ? 'inconclusive' : 'unsupported';
  return { name, status, detail: check.status === 'ok' ? `${check.detail} (hook ${hookPath})` : check.detail };
}

export async function runProbes(options: { hookPath?: string } = {}): Promise<ProbeResult[]> {
  const kernel: ProbeResult = { name: 'kernel', status: process.platform === 'linux' ? 'supported' : 'unsupported', detail: `${process.platform} ${release()}` };
  const results = await Promise.all([probeBpfLsm(), probeBtf(), probeBpffs(), probeCgroups(), probeLibbpf()]);
  const runtimes = ['runc', 'crun', 'podman', 'crio', 'containerd'].map(probeRuntime);
  return [kernel, ...results, ...runtimes, await probeHookInterpreter(options.hookPath ?? DEFAULT_HOOK_PATH)];
}

export function formatProbeTable(results: readonly ProbeResult[]): string {
  const width = Math.max(...results.map((result) => result.name.length));
  const statusWidth = Math.max(...results.map((result) => result.status.length));
  return results.map((result) => `${result.name.padEnd(width)}  ${result.status.padEnd(statusWidth)}  ${result.detail}`).join('\n') + '\n';
}
