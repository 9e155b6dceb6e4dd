import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { spawnSync } from 'node:child_process';
import { copyFileSync, mkdirSync, mkdtempSync, rmdirSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { compileBpf } from '../scripts/build-bpf.ts';
import { makeCgroup as makeScopeCgroup, probe as probeScope, readDecisions, ruleMap, setRules as setScopeRules } from './__fixtures__/enforcer.js';
import { codecs, openObject, type BpfMap, scopeEntryCodec, type LoadedObject } from './index.js';

/**
 * Kernel tier: the enforcer's lsm/bprm_check_security program
 * (src/bpf/enforcer.bpf.c) in the QEMU guest. Each scope runs one shell
 * script that executes and reads copies of /usr/bin/true.
 */

let work: string;
let object: LoadedObject;
const cgroups: string[] = [];

/** Runs or reads each file; prints `label ok` or `label <error>`. */
const probeScript = `run() { if out=$( ("$2") 2>&1 ); then echo "$1 ok"; else echo "$1 $out"; fi; }
read_() { if err=$( (: < "$2") 2>&1 ); then echo "$1 ok"; else echo "$1 $err"; fi; }
cd "$(dirname "$0")"
run exec-blocked "$PWD/blocked"
run exec-other "$PWD/other"
run exec-subtree "$PWD/bin/tool"
run exec-open-only "$PWD/open-only"
read_ read-blocked "$PWD/blocked"
read_ read-subtree "$PWD/bin/tool"
`;

const makeCgroup = (name: string) => makeScopeCgroup('bulwark-enforcer-exec', name, cgroups);
const probe = (cgroup?: string) => probeScope(join(work, 'probe.sh'), cgroup);
const setRules = (scope: number, map: BpfMap) => setScopeRules(object, scope, map);
const decisions = (scope: number) => readDecisions(object, scope);

beforeAll(() => {
  work = mkdtempSync(join(tmpdir(), 'bulwark-enforcer-exec-'));
  const objectPath = join(work, 'enforcer.bpf.o');
  compileBpf(fileURLToPath(new URL('bpf/enforcer.bpf.c', import.meta.url)), objectPath);
  object = openObject(objectPath).load();
  object.program('enforce_file_open').attach();
  object.program('enforce_bprm_check_security').attach();

  writeFileSync(join(work, 'probe.sh'), probeScript);
  mkdirSync(join(work, 'bin'));
  for (const name of ['blocked', 'other', 'open-only', join('bin', 'tool')]) copyFileSync('/usr/bin/true', join(work, name));
});

afterAll(() => {
  object?.close();
  for (const cgroup of cgroups) rmdirSync(cgroup);
  if (work !== undefined) spawnSync('rm', ['-rf', work]);
});

describe('exec blocking in the kernel guest', () => {
  it('denies a scope executing its exec rules (exact and directory) but not reading them, not other binaries, other scopes or the host', () => {
    const a = makeCgroup('a');
    const b = makeCgroup('b');
    const scopes = object.map('scopes').typed(codecs.u64, scopeEntryCodec);
    scopes.update(a.id, { scope: 0, set: 0 });
    scopes.update(b.id, { scope: 1, set: 1 });
    setRules(
      0,
      ruleMap('exec_a', [
        { path: join(work, 'blocked'), operations: ['exec'] },
        { path: `${join(work, 'bin')}/`, operations: ['exec'] },
        { path: join(work, 'open-only') },
      ]),
    );
    setRules(1, ruleMap('exec_b', [{ path: '/nonexistent', operations: ['open', 'exec'] }]));

    const denied = expect.stringMatching(/Permission denied|Operation not permitted/);
    expect(probe(a.path)).toEqual({
      'exec-blocked': denied,
      'exec-other': 'ok',
      'exec-subtree': denied,
      // An open rule denies opening the file to execute it too.
      'exec-open-only': denied,
      'read-blocked': 'ok',
      'read-subtree': 'ok',
    });
    // exec-blocked and exec-subtree by bprm_check_security, exec-open-only by file_open.
    expect(decisions(0)).toMatchObject({ denied: 3n, failed: 0n });

    const allOk = { 'exec-blocked': 'ok', 'exec-other': 'ok', 'exec-subtree': 'ok', 'exec-open-only': 'ok', 'read-blocked': 'ok', 'read-subtree': 'ok' };
    expect(probe(b.path)).toEqual(allOk);
    expect(decisions(1)).toMatchObject({ denied: 0n, failed: 0n });
    expect(probe()).toEqual(allOk);
  });
});
