import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { AgentUnreachableError, MAX_APPLY_BYTES } from '@bulwark/hook-client';
import { runCli } from './cli.js';
import { AGENT_DOWN_HINT, describeCommandError } from './command-error.js';
import { readApplyFiles } from './policy-control-command.js';

let work: string;
beforeEach(async () => {
  work = await mkdtemp(join(tmpdir(), 'bulwark-policy-control-'));
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
  action: Block
`;

describe('bulwark policy apply|delete|list (client side)', () => {
  it('has usage for each subcommand', async () => {
    for (const subcommand of ['apply', 'delete', 'list']) {
      const result = await cli('policy', subcommand, '--help');
      expect(result.code).toBe(0);
      expect(result.stdout).toContain(`Usage: bulwark policy ${subcommand}`);
      expect(result.stdout).toContain('Root only');
    }
    expect((await cli('policy', '--help')).stdout).toContain('apply FILE... | -');
    expect((await cli('policy', 'apply')).code).toBe(2);
    expect((await cli('policy', 'delete')).code).toBe(2);
    expect((await cli('policy', 'list', 'extra')).code).toBe(2);
  });

  it('refuses a bad file at its line and column, sending nothing', async () => {
    const file = join(work, 'bad.yaml');
    await writeFile(file, GOOD.replace('action: Block', 'action: Maybe'));
    const result = await cli('policy', 'apply', file, '--control-socket', join(work, 'none.sock'));
    expect(result.code).toBe(1);
    expect(result.stderr).toBe(`${file}:13:11: spec.action: expected 'Allow', 'Audit' or 'Block'\nbulwark policy apply: 1 problem; nothing applied\n`);
  });

  it('names the socket when the agent is not running, in one line, with the hint every command gives', async () => {
    const file = join(work, 'good.yaml');
    await writeFile(file, GOOD);
    const socket = join(work, 'none.sock');
    for (const argv of [['apply', file], ['list'], ['delete', 'block-shadow']]) {
      const result = await cli('policy', ...argv, '--control-socket', socket);
      expect(result.code).toBe(1);
      expect(result.stderr).toBe(`bulwark policy ${argv[0]}: agent unreachable at ${socket}: no such file or directory; ${AGENT_DOWN_HINT}\n`);
      // The same line as 'bulwark containers' gives, from the same function.
      expect(result.stderr).toBe(`${describeCommandError(`policy ${argv[0]}`, new AgentUnreachableError(socket, 'ENOENT'))}\n`);
    }
  });

  it('caps what it reads, over all files and standard input', async () => {
    const big = join(work, 'big.yaml');
    await writeFile(big, `# ${'x'.repeat(MAX_APPLY_BYTES)}\n`);
    await expect(readApplyFiles([big], () => Promise.resolve(''))).rejects.toThrow(/expected at most 262144 bytes/u);
    const half = join(work, 'half.yaml');
    await writeFile(half, `# ${'x'.repeat(MAX_APPLY_BYTES / 2)}\n`);
    await expect(readApplyFiles([half, '-'], (max) => Promise.resolve('y'.repeat(max + 1)))).rejects.toThrow(/expected at most/u);
    await expect(readApplyFiles(['-', '-'], () => Promise.resolve(GOOD))).rejects.toThrow(/given twice/u);
    await expect(readApplyFiles([work], () => Promise.resolve(''))).rejects.toThrow(/not a regular file/u);
    const files = await readApplyFiles(['-'], () => Promise.resolve(GOOD));
    expect(files).toEqual([{ source: '-', text: GOOD }]);
    const result = await cli('policy', 'apply', big, '--control-socket', join(work, 'none.sock'));
    expect(result.code).toBe(1);
    expect(result.stderr).toMatch(/^bulwark policy apply: .*expected at most 262144 bytes of policies in all/u);
  });
});
