import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmdirSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { compileBpf } from '../scripts/build-bpf.ts';
import { makeCgroup as makeScopeCgroup, probe as probeScope, readDecisions, ruleMap, setRules as setScopeRules } from './__fixtures__/enforcer.js';
import { codecs, openObject, type BpfMap, scopeEntryCodec, type LoadedObject } from './index.js';
import { LAYOUT_VERSION } from './layout.js';

/**
 * Kernel tier: the enforcer (src/bpf/enforcer.bpf.c) in a kernel with BPF
 * LSM active (the project's QEMU guest, tools/kernel-vm). JavaScript is slow
 * there, so each scope runs one shell script that opens every file once.
 */

let work: string;
let object: LoadedObject;
const cgroups: string[] = [];

/** Opens each file with a shell redirection; prints `label ok` or `label <error>`. */
const probeScript = `probe() { if err=$( (: < "$2") 2>&1 ); then echo "$1 ok"; else echo "$1 $err"; fi; }
cd "$(dirname "$0")"
probe secret "$PWD/secret.txt"
probe plain "$PWD/plain.txt"
probe sibling "$PWD/private-notes.txt"
probe private-dir "$PWD/private"
probe private-file "$PWD/private/a.txt"
probe private-deep "$PWD/private/deep/b.txt"
probe link "$PWD/link-to-secret"
# dash's cd works on the whole path, so go halfway and open the rest relative (both under PATH_MAX).
cd deep && for i in $(seq 8); do cd "$(printf "%0250d" "$i")"; done
rest=$(for i in $(seq 9 17); do printf "%0250d/" "$i"; done)
probe too-long "\${rest}f.txt"
`;

const makeCgroup = (name: string) => makeScopeCgroup('bulwark-enforcer', name, cgroups);
const probe = (cgroup?: string) => probeScope(join(work, 'probe.sh'), cgroup);
const setRules = (scope: number, map: BpfMap) => setScopeRules(object, scope, map);
const decisions = (scope: number) => readDecisions(object, scope);

beforeAll(() => {
  work = mkdtempSync(join(tmpdir(), 'bulwark-enforcer-'));
  const objectPath = join(work, 'enforcer.bpf.o');
  compileBpf(fileURLToPath(new URL('bpf/enforcer.bpf.c', import.meta.url)), objectPath);
  object = openObject(objectPath).load();
  object.program('enforce_file_open').attach();

  writeFileSync(join(work, 'probe.sh'), probeScript);
  for (const file of ['secret.txt', 'plain.txt', 'private-notes.txt']) writeFileSync(join(work, file), `${file}\n`);
  mkdirSync(join(work, 'private', 'deep'), { recursive: true });
  writeFileSync(join(work, 'private', 'a.txt'), 'a\n');
  writeFileSync(join(work, 'private', 'deep', 'b.txt'), 'b\n');
  symlinkSync(join(work, 'secret.txt'), join(work, 'link-to-secret'));
  // A file whose path is longer than bpf_d_path's 4096-byte buffer: 17 directories of 250 bytes.
  const deepScript = 'mkdir deep && cd deep && for i in $(seq 8); do n=$(printf "%0250d" "$i"); mkdir "$n" && cd "$n"; done && ' +
    'rest=$(for i in $(seq 9 17); do printf "%0250d/" "$i"; done) && mkdir -p "$rest" && echo deep > "${rest}f.txt"';
  const deep = spawnSync('sh', ['-c', deepScript], {
    cwd: work,
    encoding: 'utf8',
  });
  expect(deep.status, deep.stderr).toBe(0);
});

afterAll(() => {
  object?.close();
  for (const cgroup of cgroups) rmdirSync(cgroup);
  // GNU rm walks the deep tree with openat; a path-based walk would hit ENAMETOOLONG.
  if (work !== undefined) spawnSync('rm', ['-rf', work]);
});

describe('the enforcer in the kernel guest', () => {
  it('denies a scope its rules (exact, recursive directory, through a symlink, fail-closed), not other scopes or the host, and swaps rule sets atomically', () => {
    const rodata = object.maps().find((map) => map.name.endsWith('.rodata'));
    expect(rodata?.lookup(codecs.u32.encode(0))?.readUInt32LE(0)).toBe(LAYOUT_VERSION);

    const a = makeCgroup('a');
    const b = makeCgroup('b');
    const scopes = object.map('scopes').typed(codecs.u64, scopeEntryCodec);
    scopes.update(a.id, { scope: 0, set: 0 });
    scopes.update(b.id, { scope: 1, set: 1 });
    setRules(0, ruleMap('rules_a', [{ path: join(work, 'secret.txt') }, { path: `${join(work, 'private')}/` }]));
    setRules(1, ruleMap('rules_b', [{ path: '/nonexistent/' }]));

    const denied = 'cannot open';
    const inA = probe(a.path);
    expect(inA).toEqual({
      secret: expect.stringMatching(/Operation not permitted/),
      plain: 'ok',
      sibling: 'ok',
      'private-dir': expect.stringMatching(/Operation not permitted/),
      'private-file': expect.stringMatching(/Operation not permitted/),
      'private-deep': expect.stringMatching(/Operation not permitted/),
      link: expect.stringMatching(/Operation not permitted/),
      'too-long': expect.stringMatching(/Operation not permitted/),
    });
    expect(inA.secret).toContain(denied);
    const countsA = decisions(0);
    expect(countsA.denied).toBe(5n);
    expect(countsA.failed).toBe(1n);
    expect(countsA.allowed).toBeGreaterThan(0n);

    // Scope B has rules, none of which names these files; only the unresolvable path is denied (fail closed).
    expect(probe(b.path)).toEqual({
      secret: 'ok',
      plain: 'ok',
      sibling: 'ok',
      'private-dir': 'ok',
      'private-file': 'ok',
      'private-deep': 'ok',
      link: 'ok',
      'too-long': expect.stringMatching(/Operation not permitted/),
    });
    expect(decisions(1)).toMatchObject({ denied: 0n, failed: 1n });

    // The host is in no scope.
    expect(Object.values(probe()).every((result) => result === 'ok')).toBe(true);

    // A new rule set for scope A replaces the old one whole.
    setRules(0, ruleMap('rules_a2', [{ path: join(work, 'plain.txt') }]));
    expect(probe(a.path)).toMatchObject({ secret: 'ok', plain: expect.stringMatching(/Operation not permitted/), 'private-file': 'ok', link: 'ok' });
    expect(decisions(0).denied).toBe(6n);
  });
});
