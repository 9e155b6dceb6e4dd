import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { runCli } from './cli.js';

let work: string;

beforeEach(async () => {
  work = await mkdtemp(join(tmpdir(), 'bulwark-policy-cli-'));
});
afterEach(async () => {
  await rm(work, { recursive: true, force: true });
});

async function cli(...argv: string[]) {
  let stdout = '';
  let stderr = '';
  const code = await runCli(argv, { stdout: (text) => (stdout += text), stderr: (text) => (stderr += text) });
  return { code, stdout, stderr };
}

const GOOD = `apiVersion: security.kubearmor.com/v1
kind: KubeArmorPolicy
metadata:
  name: block-shadow
  namespace: shop
spec:
  selector:
    matchLabels:
      app: web
  file:
    matchPaths:
    - path: /etc/shadow
  process:
    matchPaths:
    - path: /usr/bin/curl
  syscalls:
    matchSyscalls:
    - syscall: [mount]
  action: Block
`;

const BAD = `apiVersion: security.kubearmor.com/v1
kind: KubeArmorPolicy
metadata:
  name: bad
spec:
  file:
    matchDirectories:
    - dir: /etc
  network:
    matchProtocol:
    - protocol: tcp
---
kind: KubeArmorPolicy
apiVersion: security.kubearmor.com/v1
metadata:
  name: also-bad
spec:
  capabilities:
    matchCapabilities:
    - capability: net_rawr
`;

describe('bulwark policy validate', () => {
  it('accepts a directory of valid policies and reports what is not enforced (exit 0)', async () => {
    await mkdir(join(work, 'policies'));
    await writeFile(join(work, 'policies', 'good.yaml'), GOOD);
    await writeFile(join(work, 'policies', 'notes.txt'), 'not a policy');
    const { code, stdout, stderr } = await cli('policy', 'validate', join(work, 'policies'));
    expect(stderr).toBe('');
    expect(code).toBe(0);
    expect(stdout).toContain(`${join(work, 'policies', 'good.yaml')}:16:3: spec.syscalls: not enforced: system call rules`);
    expect(stdout).toMatch(/1 policy in 1 file: valid\n$/u);
  });

  it('prints every problem of every document as file:line:column (exit 1)', async () => {
    const file = join(work, 'bad.yaml');
    await writeFile(file, BAD);
    await writeFile(join(work, 'good.yaml'), GOOD);
    const { code, stdout } = await cli('policy', 'validate', file, join(work, 'good.yaml'));
    expect(code).toBe(1);
    const lines = stdout.trim().split('\n');
    expect(lines).toContain(`${file} (document 1):8:12: spec.file.matchDirectories.0.dir: expected an absolute directory ending in '/' (the CRD's pattern ^/$|^/.*/$)`);
    expect(lines).toContain(`${file} (document 1):10:5: spec.network.matchProtocol: unknown field (did you mean matchProtocols?)`);
    expect(lines.some((line) => line.startsWith(`${file} (document 2):20:19: spec.capabilities.matchCapabilities.0.capability: expected a capability name`))).toBe(true);
    expect(lines.at(-1)).toBe('1 policy in 2 files valid; 3 problems');
  });

  it('gives JSON with --json', async () => {
    const file = join(work, 'bad.yaml');
    await writeFile(file, BAD);
    const { code, stdout } = await cli('policy', 'validate', '--json', file);
    expect(code).toBe(1);
    const report = JSON.parse(stdout) as { valid: boolean; errors: { line: number; column: number; path: string }[] };
    expect(report.valid).toBe(false);
    expect(report.errors.map((error) => [error.path, error.line, error.column])).toContainEqual(['spec.file.matchDirectories.0.dir', 8, 12]);
  });

  it('reports a missing file as a problem, in one line', async () => {
    const { code, stdout } = await cli('policy', 'validate', join(work, 'absent.yaml'));
    expect(code).toBe(1);
    expect(stdout).toContain(`${join(work, 'absent.yaml')}: read policy: no such file or directory`);
  });

  it('refuses no paths and unknown subcommands with usage errors (exit 2)', async () => {
    expect((await cli('policy', 'validate')).code).toBe(2);
    const unknown = await cli('policy', 'frobnicate');
    expect(unknown.code).toBe(2);
    expect(unknown.stderr).toContain("unknown subcommand 'frobnicate'");
    expect((await cli('policy', '--help')).stdout).toContain('Usage: bulwark policy');
  });
});

describe('bulwark policy explain', () => {
  it('explains the rules for a labelled container and decides --check operations', async () => {
    const file = join(work, 'good.yaml');
    await writeFile(file, GOOD);
    const { code, stdout, stderr } = await cli(
      'policy',
      'explain',
      file,
      '--labels',
      'app=web,tier=front',
      '--namespace',
      'shop',
      '--check',
      'read /etc/shadow from /bin/cat',
      '--check',
      'read /etc/hosts',
    );
    expect(stderr).toBe('');
    expect(code).toBe(0);
    expect(stdout).toContain('KubeArmorPolicy shop/block-shadow');
    expect(stdout).toContain('1. Block exec /usr/bin/curl  <- KubeArmorPolicy shop/block-shadow');
    expect(stdout).toMatch(/2\. Block any file operation \/etc\/shadow {2}<- KubeArmorPolicy shop\/block-shadow \(.*good\.yaml:12:7 spec\.file\.matchPaths\.0\)/u);
    expect(stdout).toContain('read /etc/shadow by /bin/cat: block by rule 2');
    expect(stdout).toContain('read /etc/hosts: allow (no rule matches)');
    expect(stdout).toContain('spec.syscalls');
  });

  it('selects nothing for a container in another namespace', async () => {
    const file = join(work, 'good.yaml');
    await writeFile(file, GOOD);
    const { code, stdout } = await cli('policy', 'explain', file, '--labels', 'app=web', '--namespace', 'other', '--check', 'read /etc/shadow');
    expect(code).toBe(0);
    expect(stdout).toContain('policies: none select it');
    expect(stdout).toContain('read /etc/shadow: allow (no rule matches)');
  });

  it('refuses to explain invalid policies, naming the problems (exit 1)', async () => {
    const file = join(work, 'bad.yaml');
    await writeFile(file, BAD);
    const { code, stderr } = await cli('policy', 'explain', file, '--labels', 'app=web');
    expect(code).toBe(1);
    expect(stderr).toContain('spec.file.matchDirectories.0.dir');
    expect(stderr).toContain('fix them first');
  });

  it('refuses a bad --check or --labels in one line (exit 2)', async () => {
    const file = join(work, 'good.yaml');
    await writeFile(file, GOOD);
    const check = await cli('policy', 'explain', file, '--check', 'frob /etc');
    expect(check.code).toBe(2);
    expect(check.stderr.trim().split('\n')).toHaveLength(1);
    expect(check.stderr).toContain('expected an operation');
    const labels = await cli('policy', 'explain', file, '--labels', 'novalue');
    expect(labels.code).toBe(2);
    expect(labels.stderr).toContain('expected key=value');
  });
});
