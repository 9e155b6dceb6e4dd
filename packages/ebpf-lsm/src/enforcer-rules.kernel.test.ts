import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { chmodSync, chownSync, mkdirSync, mkdtempSync, rmdirSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { compileBpf } from '../scripts/build-bpf.ts';
import { makeCgroup as makeScopeCgroup, probe as probeScope, readDecisions, ruleMap, setRules as setScopeRules } from './__fixtures__/enforcer.js';
import { eventCollector } from './__fixtures__/events.js';
import { codecs, decodeEventResource, openObject, openRingBuffer, type BpfMap, type LoadedObject, scopeEntryCodec, type RingBuffer } from './index.js';
import { LAYOUT_VERSION, OPERATION_BITS as OP, throttleConfigCodec } from './layout.js';
import type { Postures, Rule } from './rules.js';

/**
 * Kernel tier: the enforcer's layout 4 in the QEMU guest, every program
 * attached. Each case runs the same shell probe in a container scope (a
 * fresh cgroup, new mount and pid namespaces), in a scope whose rules do not
 * name these files, and on the host, rebuilding the file tree in between so
 * that what one run was allowed to change cannot decide the next.
 */

let work: string;
let object: LoadedObject;
let ring: RingBuffer;
let events: ReturnType<typeof eventCollector>;
const cgroups: string[] = [];
let nextScope = 100;

const makeCgroup = (name: string) => makeScopeCgroup('bulwark-rules', name, cgroups);
const decisions = (scope: number) => readDecisions(object, scope);

/** A scope with a rule set: its cgroup path and index. */
function scopeWith(name: string, rules: readonly Rule[], postures?: Postures) {
  const cgroup = makeCgroup(name);
  const index = nextScope++;
  object.map('scopes').typed(codecs.u64, scopeEntryCodec).update(cgroup.id, { scope: index, set: index });
  setScopeRules(object, index, ruleMap(`r_${name}`.replaceAll('-', '_').slice(0, 15), rules, postures));
  return { path: cgroup.path, index, cgroupId: cgroup.id };
}

/** Shell functions for the probes: each prints `label ok` or `label <first line of the error>`. */
const prelude = `t() { label=$1; shift; if out=$("$@" 2>&1); then echo "$label ok"; else echo "$label $(echo "$out" | head -n 1)"; fi; }
sh_() { label=$1; shift; t "$label" sh -c "$1"; }
`;

function runProbe(name: string, body: string, cgroup?: string, options: { pidNamespace?: boolean } = {}): Record<string, string> {
  const file = join(work, `${name}.sh`);
  writeFileSync(file, prelude + body);
  return probeScope(file, cgroup, options);
}

const denied = expect.stringMatching(/Operation not permitted|Permission denied/);

beforeAll(() => {
  work = mkdtempSync(join(tmpdir(), 'bulwark-rules-'));
  // Other users' probes (ownerOnly) must reach their files.
  chmodSync(work, 0o755);
  const objectPath = join(work, 'enforcer.bpf.o');
  compileBpf(fileURLToPath(new URL('bpf/enforcer.bpf.c', import.meta.url)), objectPath);
  object = openObject(objectPath).load();
  for (const program of object.programs()) program.attach();
  ring = openRingBuffer(object.map('events'));
  events = eventCollector(ring);

  // A helper for the system calls the shell has no command for.
  writeFileSync(
    join(work, 'sys.c'),
    `#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>
int main(int argc, char **argv) {
  int r = -1;
  if (argc == 5 && !strcmp(argv[1], "socket")) r = socket(atoi(argv[2]), atoi(argv[3]), atoi(argv[4]));
  else if (argc == 3 && !strcmp(argv[1], "truncate")) r = truncate(argv[2], 0);
  else if (argc == 5 && !strcmp(argv[1], "chown")) r = chown(argv[2], atoi(argv[3]), atoi(argv[4]));
  else { fprintf(stderr, "usage\\n"); return 2; }
  if (r < 0) { printf("%s\\n", strerror(errno)); return 1; }
  printf("ok\\n");
  return 0;
}
`,
  );
  const built = spawnSync('clang', ['-O1', '-o', join(work, 'sys'), join(work, 'sys.c')], { encoding: 'utf8' });
  expect(built.status, built.stderr).toBe(0);
});

afterAll(() => {
  ring?.close();
  object?.close();
  for (const cgroup of cgroups) rmdirSync(cgroup);
  if (work !== undefined) spawnSync('rm', ['-rf', work]);
});

describe('enforcer layout 4 in the kernel guest', () => {
  it('checks the layout version and attaches every program', () => {
    const rodata = object.maps().find((map) => map.name.endsWith('.rodata'));
    expect(rodata?.lookup(codecs.u32.encode(0))?.readUInt32LE(0)).toBe(LAYOUT_VERSION);
    expect(object.programs().map((program) => program.name).sort()).toEqual(
      [
        'enforce_bprm_check_security',
        'enforce_capable',
        'enforce_file_open',
        'enforce_path_chmod',
        'enforce_path_link',
        'enforce_path_mkdir',
        'enforce_path_mknod',
        'enforce_path_rename',
        'enforce_path_rmdir',
        'enforce_path_symlink',
        'enforce_path_truncate',
        'enforce_path_unlink',
        'enforce_socket_create',
        'enforce_task_kill',
        'enforce_ptrace_access_check',
        'enforce_task_setrlimit',
        'enforce_task_setscheduler',
        'enforce_task_setnice',
        'enforce_task_setioprio',
        'enforce_task_movememory',
        'enforce_file_send_sigiotask',
        'enforce_path_chown',
        'enforce_mmap_file',
        'enforce_file_mprotect',
        'enforce_file_permission',
        'enforce_inode_setattr',
        'enforce_inode_setxattr',
        'enforce_inode_removexattr',
        'track_bprm_committed_creds',
        'track_task_alloc',
      ].sort(),
    );
  });

  it('readOnly, every write path, non-recursive directories, rename and link protection, deep paths: blocked in the scope only', () => {
    const w = join(work, 'files');
    const deep40 = Array.from({ length: 40 }, (_, index) => `d${index}`).join('/');
    const deep170 = Array.from({ length: 170 }, (_, index) => `e${index}`).join('/');
    expect(join(w, deep40, 'f').length).toBeLessThan(251);
    const setup = () => {
      spawnSync('rm', ['-rf', w]);
      const files: Record<string, string> = {
        'ro/file': 'ro\n',
        'ro/to-unlink': 'u\n',
        'ro/to-rename': 'r\n',
        'secret': 'secret\n',
        'vault/inner/secret2': 'secret2\n',
        'flat/a': 'a\n',
        'flat/sub/b': 'b\n',
        [`${deep40}/f`]: 'deep\n',
        [`${deep40}/g`]: 'deep sibling\n',
        'plain': 'plain\n',
      };
      for (const [name, content] of Object.entries(files)) {
        mkdirSync(join(w, name, '..'), { recursive: true });
        writeFileSync(join(w, name), content);
      }
      mkdirSync(join(w, 'ro', 'sub'));
      const made = spawnSync('sh', ['-c', `mkdir -p ${deep170} && echo x > ${deep170}/f`], { cwd: w, encoding: 'utf8' });
      expect(made.status, made.stderr).toBe(0);
    };
    const sys = join(work, 'sys');
    const body = `cd ${w}
t ro-read cat ro/file
sh_ ro-write-truncating ': > ro/file'
sh_ ro-append 'echo x >> ro/file'
sh_ ro-read-write ': 1<> ro/file'
t ro-truncate ${sys} truncate ro/file
t ro-unlink rm ro/to-unlink
t ro-create touch ro/new
t ro-mkdir mkdir ro/dir
t ro-rmdir rmdir ro/sub
t ro-chmod chmod 600 ro/file
t ro-rename mv ro/to-rename ro/moved
t ro-link ln ro/file linked
t ro-symlink ln -s /etc/hostname ro/symlink
t ro-mkfifo mkfifo ro/fifo
t secret-read cat secret
t secret-link ln secret hard
t secret-rename mv secret moved
t vault-read cat vault/inner/secret2
t vault-rename mv vault vault2
t flat-direct cat flat/a
t flat-nested cat flat/sub/b
t deep40-read cat ${deep40}/f
t deep40-sibling cat ${deep40}/g
t deep170-unlink rm ${deep170}/f
t plain-write sh -c 'echo y >> plain'
`;
    const a = scopeWith('files-a', [
      { path: `${join(w, 'ro')}/`, readOnly: true },
      { path: join(w, 'secret') },
      { path: join(w, 'vault', 'inner', 'secret2'), operations: ['read'] },
      { path: `${join(w, 'flat')}/`, recursive: false, operations: ['read'] },
      { path: join(w, deep40, 'f'), operations: ['read'] },
    ]);
    const b = scopeWith('files-b', [{ path: '/nonexistent/' }]);

    setup();
    const inA = runProbe('files', body, a.path);
    expect(inA).toEqual({
      'ro-read': 'ok',
      'ro-write-truncating': denied,
      'ro-append': denied,
      'ro-read-write': denied,
      'ro-truncate': denied,
      'ro-unlink': denied,
      'ro-create': denied,
      'ro-mkdir': denied,
      'ro-rmdir': denied,
      'ro-chmod': denied,
      'ro-rename': denied,
      'ro-link': denied,
      'ro-symlink': denied,
      'ro-mkfifo': denied,
      'secret-read': denied,
      'secret-rename': denied,
      'secret-link': denied,
      'vault-rename': denied,
      'vault-read': denied,
      'flat-direct': denied,
      'flat-nested': 'ok',
      'deep40-read': denied,
      'deep40-sibling': 'ok',
      // 170 components: deeper than the walk goes, so decided fail-closed.
      'deep170-unlink': denied,
      'plain-write': 'ok',
    });
    expect(decisions(a.index).failed).toBe(1n);

    const allOk = Object.fromEntries(Object.keys(inA).map((label) => [label, 'ok']));
    setup();
    // Another scope with rules: only the path too deep to resolve is refused (fail closed).
    expect(runProbe('files', body, b.path)).toEqual({ ...allOk, 'deep170-unlink': denied });
    setup();
    expect(runProbe('files', body)).toEqual(allOk);
  });

  it('each glob form (*, ?, ** between directories, trailing /**) blocks in the scope only, and a matching file cannot be renamed away', () => {
    const w = join(work, 'globs');
    const files = ['etc/a.conf', 'etc/a.txt', 'etc/sub/b.conf', 'keys/id_rsa', 'keys/id_ecdsa', 'logs/x.gz', 'logs/a/b/y.gz', 'logs/a/y.txt', 'data/x', 'data/d/e', 'database'];
    const setup = () => {
      spawnSync('rm', ['-rf', w]);
      for (const name of files) {
        mkdirSync(join(w, name, '..'), { recursive: true });
        writeFileSync(join(w, name), `${name}\n`);
      }
    };
    const a = scopeWith('globs-a', [
      { path: `${w}/etc/*.conf`, operations: ['read'] },
      { path: `${w}/keys/id_?sa`, operations: ['read'] },
      { path: `${w}/logs/**/*.gz`, operations: ['read'] },
      { path: `${w}/data/**`, operations: ['read'] },
    ]);
    const b = scopeWith('globs-b', [{ path: '/nonexistent/**' }]);
    const body = `cd ${w}
${files.map((name) => `t ${name.replaceAll('/', ':')} cat ${name}`).join('\n')}
t rename-away mv etc/a.conf etc/a.bak
`;
    setup();
    const expected = {
      'etc:a.conf': denied,
      'etc:a.txt': 'ok',
      'etc:sub:b.conf': 'ok',
      'keys:id_rsa': denied,
      'keys:id_ecdsa': 'ok',
      'logs:x.gz': denied,
      'logs:a:b:y.gz': denied,
      'logs:a:y.txt': 'ok',
      'data:x': denied,
      'data:d:e': denied,
      database: 'ok',
      'rename-away': denied,
    };
    expect(runProbe('globs', body, a.path)).toEqual(expected);
    const allOk = Object.fromEntries(Object.keys(expected).map((label) => [label, 'ok']));
    setup();
    expect(runProbe('globs', body, b.path)).toEqual(allOk);
    setup();
    expect(runProbe('globs', body)).toEqual(allOk);
  });

  it('Audit allows and reports, Block reports with its rule id, source and comm; a throttled scope reports how many it dropped', async () => {
    const w = join(work, 'audit');
    mkdirSync(w);
    for (const name of ['audited', 'blocked', 'noisy']) writeFileSync(join(w, name), `${name}\n`);
    object.map('config').update(codecs.u32.encode(0), throttleConfigCodec.encode({ eventsPerSecond: 5, flags: 0, suppressNs: 1_000_000_000n, hostScope: 0, hostSet: 0 }));
    const scope = scopeWith('audit', [
      { path: join(w, 'audited'), action: 'audit', operations: ['read'], id: 41 },
      { path: join(w, 'blocked'), operations: ['read'], id: 42 },
    ]);
    const noisy = scopeWith('noisy', [{ path: join(w, 'noisy'), operations: ['read'], id: 43 }]);
    await events.drain(100);

    expect(runProbe('audit', `t audited cat ${w}/audited\nt blocked cat ${w}/blocked\n`, scope.path)).toEqual({ audited: 'ok', blocked: denied });
    const first = (await events.drain()).filter((event) => event.scope === scope.index);
    expect(first.map(({ verdict, ruleId, resource, comm, source, operation }) => ({ verdict, ruleId, resource, comm, source, operation }))).toEqual([
      { verdict: 'audit', ruleId: 41, resource: `${w}/audited`, comm: 'cat', source: '/usr/bin/cat', operation: OP.read },
      { verdict: 'block', ruleId: 42, resource: `${w}/blocked`, comm: 'cat', source: '/usr/bin/cat', operation: OP.read },
    ]);
    expect(first[0]!.cgroupId).toBe(scope.cgroupId);
    expect(first[0]!.pid).toBeGreaterThan(0);
    expect(decisions(scope.index)).toMatchObject({ audited: 1n, denied: 1n });

    // 5 events a second, then a second of silence: 20 blocked opens in one shell give 5 events;
    // after the silence, the next decision brings one record with the 15 dropped, then its own.
    expect(
      runProbe('noisy', `cd ${w}\nfor i in $(seq 20); do (: < noisy) 2>/dev/null; done; echo burst done\nsleep 1.5\nt after cat noisy\n`, noisy.path),
    ).toEqual({ burst: 'done', after: denied });
    const throttled = (await events.drain()).filter((event) => event.scope === noisy.index);
    expect(throttled.map(({ verdict, dropped, ruleId }) => ({ verdict, dropped, ruleId }))).toEqual([
      ...Array.from({ length: 5 }, () => ({ verdict: 'block', dropped: 0, ruleId: 43 })),
      { verdict: 'dropped', dropped: 15, ruleId: 0 },
      { verdict: 'block', dropped: 0, ruleId: 43 },
    ]);
    expect(decisions(noisy.index).denied).toBe(21n);
    // Back to the defaults for the cases after this one.
    object.map('config').update(codecs.u32.encode(0), throttleConfigCodec.encode({ eventsPerSecond: 0, flags: 0, suppressNs: 0n, hostScope: 0, hostSet: 0 }));
  });

  it('allow-list mode: what no Allow rule names falls to the posture, block or audit, per category', async () => {
    const w = join(work, 'posture');
    mkdirSync(w);
    for (const name of ['allowed', 'other']) writeFileSync(join(w, name), `${name}\n`);
    const rules: Rule[] = [{ path: `${w}/allowed`, action: 'allow', operations: ['read'], id: 7 }];
    const strict = scopeWith('posture-block', rules);
    const lenient = scopeWith('posture-audit', rules, { file: 'audit' });
    // Only shell built-ins once in the scope: with files in allow-list mode, nothing else could be read to run.
    const enterAndProbe = (cgroup: string) => {
      const run = spawnSync(
        'sh',
        // No redirection to /dev/null either: opening it is a file operation the posture decides.
        ['-c', `echo $$ > ${cgroup}/cgroup.procs; for f in allowed other; do if (: < ${w}/$f); then echo "$f ok"; else echo "$f denied"; fi; done`],
        { encoding: 'utf8' },
      );
      expect(run.status, run.stderr).toBe(0);
      return run.stdout.trim().split('\n');
    };
    await events.drain(100);
    expect(enterAndProbe(strict.path)).toEqual(['allowed ok', 'other denied']);
    expect(enterAndProbe(lenient.path)).toEqual(['allowed ok', 'other ok']);
    const reported = (await events.drain()).filter((event) => event.resource === `${w}/other`);
    expect(reported.map(({ scope, verdict }) => ({ scope, verdict }))).toEqual([
      { scope: strict.index, verdict: 'posture-block' },
      { scope: lenient.index, verdict: 'posture-audit' },
    ]);
    // Categories without an Allow rule stay open: exec is not in allow-list mode here.
    expect(decisions(strict.index)).toMatchObject({ denied: 1n });
  });

  it('ownerOnly spares the owner; fromSource applies to one executable only', () => {
    const w = join(work, 'owner');
    mkdirSync(w, { mode: 0o755 });
    writeFileSync(join(w, 'mine'), 'mine\n', { mode: 0o644 });
    chownSync(join(w, 'mine'), 1000, 1000);
    writeFileSync(join(w, 'tool-only'), 'x\n', { mode: 0o644 });
    const scope = scopeWith('owner', [
      { path: join(w, 'mine'), operations: ['read'], ownerOnly: true },
      { path: join(w, 'tool-only'), operations: ['read'], fromSource: '/usr/bin/dd' },
    ]);
    const body = `t root-reads cat ${w}/mine
t owner-reads setpriv --reuid 1000 --regid 1000 --clear-groups cat ${w}/mine
t cat-reads cat ${w}/tool-only
t dd-reads dd if=${w}/tool-only of=/dev/null status=none
`;
    expect(runProbe('owner', body, scope.path)).toEqual({ 'root-reads': denied, 'owner-reads': 'ok', 'cat-reads': 'ok', 'dd-reads': denied });
    expect(runProbe('owner', body)).toEqual({ 'root-reads': 'ok', 'owner-reads': 'ok', 'cat-reads': 'ok', 'dd-reads': 'ok' });
  });

  it('ownerOnly with a rule without it: the owner is spared only what every matching rule spares (same entry, and path with glob)', () => {
    const w = join(work, 'owner-mixed');
    mkdirSync(join(w, 'home'), { recursive: true, mode: 0o755 });
    chmodSync(w, 0o755);
    for (const file of [join(w, 'home', 'key'), join(w, 'gfile')]) {
      writeFileSync(file, 'x\n', { mode: 0o666 });
      chownSync(file, 1000, 1000);
    }
    // KubeArmor's ownerOnly + readOnly Block: others may do nothing, the owner may only read.
    const scope = scopeWith('owner-mixed', [
      { path: `${w}/home/`, ownerOnly: true },
      { path: `${w}/home/`, readOnly: true },
      { path: `${w}/g*`, ownerOnly: true },
      { path: `${w}/gfile`, readOnly: true },
    ]);
    const owner = 'setpriv --reuid 1000 --regid 1000 --clear-groups';
    const body = `t owner-reads ${owner} cat ${w}/home/key
sh_ owner-writes "${owner} sh -c 'echo y >> ${w}/home/key'"
t root-reads cat ${w}/home/key
t owner-reads-glob ${owner} cat ${w}/gfile
sh_ owner-writes-glob "${owner} sh -c 'echo y >> ${w}/gfile'"
t root-reads-glob cat ${w}/gfile
`;
    expect(runProbe('owner-mixed', body, scope.path)).toEqual({
      'owner-reads': 'ok',
      'owner-writes': denied,
      'root-reads': denied,
      'owner-reads-glob': 'ok',
      'owner-writes-glob': denied,
      'root-reads-glob': denied,
    });
  });

  it('raw sockets, a capability, and signals to a protected process: blocked in the scope only', async () => {
    let guarded: ChildProcess | undefined;
    try {
      guarded = spawn('sleep', ['600'], { stdio: 'ignore' });
      const other = spawn('sleep', ['600'], { stdio: 'ignore' });
      object.map('protected').typed(codecs.u32, codecs.u32).update(guarded.pid!, 1);
      const target = join(work, 'chown-target');
      writeFileSync(target, 'x\n');
      const sys = join(work, 'sys');
      const scope = scopeWith('net-caps', [
        { kind: 'socket', type: 3, id: 51 }, // SOCK_RAW, any family and protocol
        { kind: 'capability', capability: 0, id: 52 }, // CAP_CHOWN
      ]);
      const noRules = scopeWith('net-none', [{ path: '/nonexistent' }]);
      const body = `t raw-socket ${sys} socket 2 3 1
t udp-socket ${sys} socket 2 2 0
t chown ${sys} chown ${target} 0 1
t kill-guarded kill -0 ${guarded.pid}
t kill-other kill -0 ${other.pid}
`;
      await events.drain(100);
      expect(runProbe('net', body, scope.path, { pidNamespace: false })).toEqual({ 'raw-socket': denied, 'udp-socket': 'ok', chown: denied, 'kill-guarded': denied, 'kill-other': 'ok' });
      const reported = (await events.drain()).filter((event) => event.scope === scope.index);
      expect(reported.map(({ verdict, ruleId, operation }) => ({ verdict, ruleId, operation }))).toEqual([
        { verdict: 'block', ruleId: 51, operation: OP.socket },
        { verdict: 'block', ruleId: 52, operation: OP.capability },
        { verdict: 'protected', ruleId: 0, operation: OP.signal },
      ]);
      // The whole key, not a string cut at its first zero byte (AF_INET is 02 00): family, type and protocol; the capability.
      expect(reported.map((event) => event.resource)).toEqual(['010200030001000000000000', '020000000000000000000000', '736967000000000000000000']);
      expect(reported.map((event) => decodeEventResource(event))).toEqual([
        { kind: 'socket', family: 2, type: 3, protocol: 1 },
        { kind: 'capability', capability: 0 },
        { kind: 'signal', via: 'signal' },
      ]);
      // The protection does not depend on rules: any scoped process is stopped.
      expect(runProbe('net', body, noRules.path, { pidNamespace: false })).toEqual({ 'raw-socket': 'ok', 'udp-socket': 'ok', chown: 'ok', 'kill-guarded': denied, 'kill-other': 'ok' });
      expect(runProbe('net', body, undefined, { pidNamespace: false })).toEqual({ 'raw-socket': 'ok', 'udp-socket': 'ok', chown: 'ok', 'kill-guarded': 'ok', 'kill-other': 'ok' });
      other.kill();
    } finally {
      guarded?.kill();
    }
  });
});

export type { BpfMap };
