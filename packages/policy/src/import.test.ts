/**
 * Importing @bulwark/policy, and using it, loads no native code: every
 * native addon Node loads goes through process.dlopen, which the child
 * records. The control shows the check can fail: in the same kind of child,
 * the enforcer's binding (@bulwark/ebpf-lsm's main entry) loads koffi's
 * .node file on first use.
 */
import { execFile } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { describe, expect, it } from 'vitest';
import { recordNativeLoads, sourceNodeArguments } from '../../../test-support/source-node.js';

const execute = promisify(execFile);
const packageDirectory = fileURLToPath(new URL('..', import.meta.url));

const probe = (body: string) => `${recordNativeLoads}
${body}
process.stdout.write(JSON.stringify({ native: opened.filter((path) => path.endsWith('.node')), result }));
`;

async function runChild(script: string): Promise<{ native: string[]; result: unknown }> {
  const { stdout } = await execute(process.execPath, [...sourceNodeArguments, '--input-type=module', '--eval', script], { cwd: packageDirectory, encoding: 'utf8' });
  return JSON.parse(stdout) as { native: string[]; result: unknown };
}

describe('importing @bulwark/policy', () => {
  it('loads no .node file, importing or compiling', async () => {
    const { native, result } = await runChild(
      probe(`
const policy = await import('@bulwark/policy');
const { policies } = policy.parsePolicies('apiVersion: security.kubearmor.com/v1\\nkind: KubeArmorPolicy\\nmetadata: {name: p}\\nspec:\\n  selector: {matchLabels: {app: a}}\\n  file: {matchPaths: [{path: /etc/shadow}]}\\n', 'p.yaml');
const compiled = policy.compilePolicies(policies, { kind: 'container', labels: { app: 'a' } });
const result = policy.encodeCompiled(compiled).length;`),
    );
    expect(result).toBeGreaterThan(0);
    expect(native).toEqual([]);
  });

  it('the same check sees the enforcer binding load koffi', async () => {
    const { native } = await runChild(
      probe(`
const ebpf = await import('@bulwark/ebpf-lsm');
let result = 'none';
try { ebpf.openObject('/nonexistent/object.bpf.o'); } catch (error) { result = error.code; }`),
    );
    expect(native.some((path) => path.includes('koffi'))).toBe(true);
  });
});
