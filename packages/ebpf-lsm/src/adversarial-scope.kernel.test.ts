import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { chmodSync, copyFileSync, linkSync, mkdirSync, mkdtempSync, readFileSync, statSync, unlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { compileBpf } from '../scripts/build-bpf.ts';
import { makeCgroup } from './__fixtures__/enforcer.js';
import { decodeEventResource, identityTargets, kernelDevice, loadEnforcer, type Enforcer, type EnforcerEvent, type Rule } from './index.js';

/**
 * Kernel tier, adversarial: what a root process in a scope tries in order
 * to get out of it or to harm the agent, each with a control that succeeds
 * where nothing stops it (so a pass is never a broken probe).
 *
 * Leaving the scope: a process belongs to the scope of the cgroup it is
 * first seen in, and its children to its scope, so moving to another
 * cgroup, to a child cgroup it made, or forking first and moving the child
 * changes nothing.
 *
 * Harming the agent (a protected process): signals, ptrace, /proc/<pid>/mem,
 * process_vm_readv, prlimit, nice, scheduler, I/O priority, SIGIO by
 * F_SETOWN. From the host the same calls work (a service manager must be
 * able to manage the agent).
 */

let work: string;
let enforcer: Enforcer | undefined;
const cgroups: string[] = [];
const children: ChildProcess[] = [];
const SCOPE = 60;
const QUIET = 61;
let scope: { path: string; id: bigint };
let quiet: { path: string; id: bigint };
let outside: string;

beforeAll(() => {
  work = mkdtempSync(join(tmpdir(), 'bulwark-adversarial-'));
  const objectPath = join(work, 'enforcer.bpf.o');
  compileBpf(fileURLToPath(new URL('bpf/enforcer.bpf.c', import.meta.url)), objectPath);
  enforcer = loadEnforcer({ object: objectPath });
  writeFileSync(join(work, 'secret'), 'secret\n');
  scope = makeCgroup('bulwark-adv', 'scope', cgroups);
  quiet = makeCgroup('bulwark-adv', 'quiet', cgroups);
  outside = makeCgroup('bulwark-adv', 'outside', cgroups).path;
  enforcer.setRules(SCOPE, [{ path: join(work, 'secret'), operations: ['read'], id: 80 }]);
  enforcer.setScope(scope.id, SCOPE);
  // A scope whose rules are about something else: the controls run there.
  enforcer.setRules(QUIET, [{ path: join(work, 'unrelated'), operations: ['read'], id: 81 }]);
  enforcer.setScope(quiet.id, QUIET);
});

afterAll(() => {
  for (const child of children) child.kill('SIGKILL');
  enforcer?.close();
  // Child cgroups first.
  for (const cgroup of [...cgroups].reverse()) spawnSync('rmdir', [cgroup]);
  if (work !== undefined) spawnSync('rm', ['-rf', work]);
});

/** Runs `script` with sh as root, no new namespaces, starting in `cgroup` (or where the test is); returns stdout lines as label -> result. */
function attack(script: string, cgroup?: string): Record<string, string> {
  const enter = cgroup === undefined ? '' : `echo $$ > ${cgroup}/cgroup.procs || exit 9\n`;
  const run = spawnSync('sh', ['-c', `${enter}${script}`], { encoding: 'utf8', timeout: 60_000 });
  expect(run.status, run.stderr).toBe(0);
  return Object.fromEntries(run.stdout.trim().split('\n').map((line) => [line.slice(0, line.indexOf(' ')), line.slice(line.indexOf(' ') + 1)]));
}

const read = (label: string) => `if (: < ${join(work, 'secret')}) 2>/dev/null; then echo ${label} read; else echo ${label} denied; fi`;

describe('leaving the scope', () => {
  it('a process that moves itself to a cgroup outside the scope stays in it', () => {
    const attempt = `${read('before')}\necho $$ > ${outside}/cgroup.procs\n${read('after')}\n`;
    expect(attack(attempt, scope.path)).toEqual({ before: 'denied', after: 'denied' });
    // Control: the same moves from a scope without the rule read, and so does a process that starts outside.
    expect(attack(attempt, quiet.path)).toEqual({ before: 'read', after: 'read' });
    expect(attack(read('outside'), outside)).toEqual({ outside: 'read' });
  });

  it('a process that makes a child cgroup and moves into it stays in the scope', () => {
    const child = join(scope.path, 'escape');
    const quietChild = join(quiet.path, 'escape');
    const attempt = (made: string) => `mkdir ${made} || exit 3\necho $$ > ${made}/cgroup.procs || exit 4\n${read('child')}\n`;
    cgroups.push(child, quietChild);
    expect(attack(attempt(child), scope.path)).toEqual({ child: 'denied' });
    expect(attack(attempt(quietChild), quiet.path)).toEqual({ child: 'read' });
  });

  it('a child forked in the scope and moved out by its parent, or moving itself before its first operation, stays in it', () => {
    // The subshell is made in the scope, then moves itself out as its very first act (/proc/self is read after the move is decided).
    const attempt = `( read -r pid rest < /proc/self/stat; echo "$pid" > ${outside}/cgroup.procs; ${read('forked')} )\n`;
    expect(attack(attempt, scope.path)).toEqual({ forked: 'denied' });
    expect(attack(attempt, quiet.path)).toEqual({ forked: 'read' });
  });

  it("a scope writes no cgroup file outside its own cgroup (another's cgroup.freeze, cgroup.kill, cgroup.procs); below its own it does; outside every scope each works", async () => {
    const own = join(scope.path, 'own-child');
    cgroups.push(own);
    const victims = ['victim-freeze', 'victim-kill'].map((name) => makeCgroup('bulwark-adv', name, cgroups).path);
    const sleepers = victims.map((victim) => {
      const sleeper = spawn('sh', ['-c', `echo $$ > ${victim}/cgroup.procs && exec sleep 600`], { stdio: 'ignore' });
      children.push(sleeper);
      return sleeper;
    });
    await new Promise((resolve) => setTimeout(resolve, 300));
    const [freezeVictim, killVictim] = victims as [string, string];
    const probe = (label: string, write: string) => `if (${write}) 2>/dev/null; then echo ${label} written; else echo ${label} denied; fi`;
    const script = [
      probe('freeze', `echo 1 > ${freezeVictim}/cgroup.freeze`),
      probe('kill', `echo 1 > ${killVictim}/cgroup.kill`),
      probe('procs', `echo $$ > ${outside}/cgroup.procs`),
      probe('root-procs', 'echo $$ > /sys/fs/cgroup/cgroup.procs'),
      `mkdir -p ${own}`,
      probe('own-child-freeze', `echo 0 > ${own}/cgroup.freeze`),
      probe('own-freeze', `echo 0 > ${scope.path}/cgroup.freeze`),
    ].join('\n');
    expect(attack(script, scope.path)).toEqual({ freeze: 'denied', kill: 'denied', procs: 'denied', 'root-procs': 'denied', 'own-child-freeze': 'written', 'own-freeze': 'written' });
    expect(sleepers.every(alive)).toBe(true);
    expect(readFileSync(join(freezeVictim, 'cgroup.events'), 'utf8')).toContain('frozen 0');
    // Control: from a cgroup in no scope, the same writes go through (the kill ends its sleeper), so the probes are sound.
    const control = attack(`${probe('freeze', `echo 1 > ${freezeVictim}/cgroup.freeze`)}\n${probe('kill', `echo 1 > ${killVictim}/cgroup.kill`)}\n${probe('thaw', `echo 0 > ${freezeVictim}/cgroup.freeze`)}`, outside);
    expect(control).toEqual({ freeze: 'written', kill: 'written', thaw: 'written' });
    await new Promise((resolve) => setTimeout(resolve, 300));
    expect(alive(sleepers[1]!)).toBe(false);
    sleepers[0]!.kill('SIGKILL');
  });

  it('a process put into the scope from outside (runc exec joining a container) is in the scope from then on', () => {
    const script = `read line; ${read('joined')}; echo $$ > ${outside}/cgroup.procs; ${read('left')}`;
    // The process waits outside any scope until another moves it in, as runc does for `runc exec`.
    const child = spawn('sh', ['-c', script], { stdio: ['pipe', 'pipe', 'inherit'] });
    children.push(child);
    let stdout = '';
    child.stdout.on('data', (chunk: Buffer) => (stdout += chunk.toString()));
    writeFileSync(join(scope.path, 'cgroup.procs'), `${child.pid}\n`);
    const done = new Promise((resolve) => child.on('close', resolve));
    child.stdin.end('go\n');
    return done.then(() => expect(stdout.trim().split('\n')).toEqual(['joined denied', 'left denied']));
  });
});

describe('writes and sockets a rule must see', () => {
  it('chown and fchown of a file under a read-only rule are denied; in a scope without the rule they go through', () => {
    const active = enforcer!;
    const file = join(work, 'owned');
    writeFileSync(file, 'x\n');
    active.setRules(62, [{ path: file, readOnly: true, id: 82 }]);
    const owners = makeCgroup('bulwark-adv', 'owners', cgroups);
    active.setScope(owners.id, 62);
    const script = `if chown 1:1 ${file} 2>/dev/null; then echo chown ok; else echo chown denied; fi
if /usr/bin/python3 -c "import os; fd = os.open('${file}', os.O_RDONLY); os.fchown(fd, 2, 2)" 2>/dev/null; then echo fchown ok; else echo fchown denied; fi`;
    expect(attack(script, owners.path)).toEqual({ chown: 'denied', fchown: 'denied' });
    expect(attack(script, quiet.path)).toEqual({ chown: 'ok', fchown: 'ok' });
    active.removeScope(owners.id);
    active.clearRules(62);
  });

  it('a raw block covers every header-writing socket, and leaves ICMP datagram sockets to icmp', () => {
    const active = enforcer!;
    // RAW_SOCKETS of @bulwark/policy: SOCK_RAW of any family, SOCK_PACKET, AF_PACKET SOCK_DGRAM.
    active.setRules(63, [
      { kind: 'socket', type: 3, id: 83 },
      { kind: 'socket', type: 10, id: 84 },
      { kind: 'socket', family: 17, type: 2, id: 85 },
    ]);
    const net = makeCgroup('bulwark-adv', 'net', cgroups);
    active.setScope(net.id, 63);
    const probe = `/usr/bin/python3 -c '
import socket
tries = [("inet-raw", 2, 3, 1), ("inet6-raw", 10, 3, 58), ("packet-raw", 17, 3, 768), ("packet-dgram", 17, 2, 768), ("sock-packet", 2, 10, 768), ("icmp-dgram", 2, 2, 1), ("udp", 2, 2, 0)]
for name, family, kind, protocol in tries:
    try:
        socket.socket(family, kind, protocol).close()
        print(name, "ok")
    except OSError as error:
        print(name, "denied" if error.errno == 1 else "errno-%d" % error.errno)
'`;
    // ICMP datagram sockets need the ping group range to include root.
    spawnSync('sh', ['-c', 'echo 0 2147483647 > /proc/sys/net/ipv4/ping_group_range']);
    expect(attack(probe, net.path)).toEqual({ 'inet-raw': 'denied', 'inet6-raw': 'denied', 'packet-raw': 'denied', 'packet-dgram': 'denied', 'sock-packet': 'denied', 'icmp-dgram': 'ok', udp: 'ok' });
    expect(attack(probe, quiet.path)).toEqual({ 'inet-raw': 'ok', 'inet6-raw': 'ok', 'packet-raw': 'ok', 'packet-dgram': 'ok', 'sock-packet': 'ok', 'icmp-dgram': 'ok', udp: 'ok' });
    active.removeScope(net.id);
    active.clearRules(63);
  });
});

/** Python that runs each named probe and prints `name ok`, `name denied` (EPERM) or `name errno-N`. */
const probes = (setup: string, tries: Record<string, string>) => `/usr/bin/python3 -c '
import ctypes, mmap, os
libc = ctypes.CDLL(None, use_errno=True)
libc.mmap.restype = ctypes.c_void_p
libc.mmap.argtypes = [ctypes.c_void_p, ctypes.c_size_t, ctypes.c_int, ctypes.c_int, ctypes.c_int, ctypes.c_long]
libc.mprotect.argtypes = [ctypes.c_void_p, ctypes.c_size_t, ctypes.c_int]
def check(result, failed):
    if result == failed:
        raise OSError(ctypes.get_errno(), "failed")
${setup}
${Object.entries(tries)
  .map(([name, body]) => `def probe_${name.replace(/-/g, '_')}():\n    ${body.split('\n').join('\n    ')}`)
  .join('\n')}
for name, probe in [${Object.keys(tries)
  .map((name) => `("${name}", probe_${name.replace(/-/g, '_')})`)
  .join(', ')}]:
    try:
        probe()
        print(name, "ok", flush=True)
    except OSError as error:
        print(name, "denied" if error.errno == 1 else "errno-%d" % error.errno, flush=True)
'`;

describe('exec without exec', () => {
  it('a program under an exec block cannot be run through the dynamic loader, mapped executable, or made executable by mprotect', () => {
    const active = enforcer!;
    const program = join(work, 'blocked-true');
    copyFileSync('/usr/bin/true', program);
    spawnSync('chmod', ['755', program]);
    active.setRules(64, [{ path: program, operations: ['exec'], id: 86 }]);
    const exec = makeCgroup('bulwark-adv', 'exec', cgroups);
    active.setScope(exec.id, 64);
    const loader = spawnSync('sh', ['-c', 'ls /lib64/ld-linux-x86-64.so.2 /lib/x86_64-linux-gnu/ld-linux-x86-64.so.2 2>/dev/null | head -1'], { encoding: 'utf8' }).stdout.trim();
    expect(loader).not.toBe('');
    const run = (label: string, command: string) => `if ${command} 2>/dev/null; then echo ${label} ok; else echo ${label} denied; fi`;
    const script = [
      run('exec', program),
      run('loader', `${loader} ${program}`),
      probes(`fd = os.open("${program}", os.O_RDONLY)`, {
        'map-exec': 'mmap.mmap(fd, 0, mmap.MAP_PRIVATE, mmap.PROT_READ | mmap.PROT_EXEC).close()',
        mprotect: 'address = libc.mmap(None, 4096, 1, 2, fd, 0)\ncheck(address, ctypes.c_void_p(-1).value)\ncheck(libc.mprotect(address, 4096, 5), -1)',
        'map-read': 'mmap.mmap(fd, 0, mmap.MAP_PRIVATE, mmap.PROT_READ).close()',
      }),
    ].join('\n');
    // A read mapping is no exec: it stays allowed, so the probe works.
    expect(attack(script, exec.path)).toEqual({ exec: 'denied', loader: 'denied', 'map-exec': 'denied', mprotect: 'denied', 'map-read': 'ok' });
    expect(attack(script, quiet.path)).toEqual({ exec: 'ok', loader: 'ok', 'map-exec': 'ok', mprotect: 'ok', 'map-read': 'ok' });
    // The loader's own mappings of libraries are not held to the rule: a dynamic program runs in the scope.
    expect(attack(run('other', '/usr/bin/true'), exec.path)).toEqual({ other: 'ok' });
    active.removeScope(exec.id);
    active.clearRules(64);
  });
});

describe('fileless exec (presets)', () => {
  it('filelessExec denies running or mapping a memfd or an unlinked file, and anonymousMapExec an executable mapping of no file; a named program still runs', async () => {
    const active = enforcer!;
    const program = join(work, 'fileless-true');
    active.setRules(69, [
      { kind: 'preset', preset: 'filelessExec', id: 95 },
      { kind: 'preset', preset: 'anonymousMapExec', id: 96 },
    ]);
    const fileless = makeCgroup('bulwark-adv', 'fileless', cgroups);
    active.setScope(fileless.id, 69);
    // Each exec runs in a child; its exit status says whether execve was denied (EPERM: 100).
    const script = (cgroup: string) => `cp /usr/bin/true ${program} && chmod 755 ${program}
echo $$ > ${cgroup}/cgroup.procs || exit 9
${probes(
  `def spawn(fd):
    pid = os.fork()
    if pid == 0:
        try:
            os.execve(fd, ["x"], {})
        except OSError as error:
            os._exit(100 if error.errno == 1 else 99)
    status = os.waitstatus_to_exitcode(os.waitpid(pid, 0)[1])
    if status != 0:
        raise OSError(1 if status == 100 else 200 + status, "exec failed")
def memfd():
    fd = os.memfd_create("payload")
    with open("/usr/bin/true", "rb") as source:
        os.write(fd, source.read())
    return fd
def unlinked():
    fd = os.open("${program}", os.O_RDONLY)
    os.unlink("${program}")
    return fd`,
  {
    named: 'spawn(os.open("/usr/bin/true", os.O_RDONLY))',
    'memfd-exec': 'spawn(memfd())',
    'unlinked-exec': 'spawn(unlinked())',
    'memfd-map': 'mmap.mmap(memfd(), 0, mmap.MAP_PRIVATE, mmap.PROT_READ | mmap.PROT_EXEC).close()',
    'anon-map': 'mmap.mmap(-1, 4096, mmap.MAP_PRIVATE | mmap.MAP_ANONYMOUS, mmap.PROT_READ | mmap.PROT_WRITE | mmap.PROT_EXEC).close()',
    'anon-mprotect': 'address = libc.mmap(None, 4096, 3, 0x22, -1, 0)\ncheck(address, ctypes.c_void_p(-1).value)\ncheck(libc.mprotect(address, 4096, 5), -1)',
    'anon-map-rw': 'mmap.mmap(-1, 4096, mmap.MAP_PRIVATE | mmap.MAP_ANONYMOUS, mmap.PROT_READ | mmap.PROT_WRITE).close()',
  },
)}`;
    const events = active.events();
    const iterator = events[Symbol.asyncIterator]();
    try {
      expect(attack(script(fileless.path))).toEqual({
        named: 'ok',
        'memfd-exec': 'denied',
        'unlinked-exec': 'denied',
        'memfd-map': 'denied',
        'anon-map': 'denied',
        'anon-mprotect': 'denied',
        'anon-map-rw': 'ok',
      });
      // The control: the same attempts where no preset is in force.
      expect(attack(script(quiet.path))).toEqual({ named: 'ok', 'memfd-exec': 'ok', 'unlinked-exec': 'ok', 'memfd-map': 'ok', 'anon-map': 'ok', 'anon-mprotect': 'ok', 'anon-map-rw': 'ok' });
      // What was reported: the exec of the memfd by the name the kernel gives it, the anonymous mapping as the preset.
      const seen: EnforcerEvent[] = [];
      const deadline = Date.now() + 10_000;
      while (seen.length < 5 && Date.now() < deadline) {
        const next = await Promise.race([iterator.next(), new Promise<undefined>((resolve) => setTimeout(() => resolve(undefined), 2_000))]);
        if (next === undefined || next.done === true) break;
        if (next.value.scope === 69) seen.push(next.value);
      }
      expect(seen.map((event) => [event.verdict, event.ruleId, decodeEventResource(event)])).toEqual([
        ['block', 95, { kind: 'path', path: '/memfd:payload (deleted)' }],
        ['block', 95, { kind: 'path', path: `${program} (deleted)` }],
        ['block', 95, { kind: 'preset', preset: 'filelessExec' }],
        ['block', 96, { kind: 'preset', preset: 'anonymousMapExec' }],
        ['block', 96, { kind: 'preset', preset: 'anonymousMapExec' }],
      ]);
    } finally {
      events.close();
    }
    active.removeScope(fileless.id);
    active.clearRules(69);
  });
});

describe('writes through a file descriptor opened before the rule', () => {
  it('write, fallocate, copy_file_range, sendfile, splice and a shared mapping through an fd opened outside the scope are denied under a read-only rule', () => {
    const active = enforcer!;
    const file = join(work, 'journal');
    const source = join(work, 'source');
    writeFileSync(file, 'j'.repeat(8192));
    writeFileSync(source, 's'.repeat(64));
    active.setRules(65, [{ path: file, readOnly: true, id: 87 }]);
    const writes = makeCgroup('bulwark-adv', 'writes', cgroups);
    active.setScope(writes.id, 65);
    // The fd is opened before the process enters the scope (an fd passed in, or a rule that came later).
    const script = (cgroup: string) => `exec 3<>${file}
echo $$ > ${cgroup}/cgroup.procs || exit 9
${probes(`src = os.open("${source}", os.O_RDONLY)`, {
  write: 'os.pwrite(3, b"x", 0)',
  fallocate: 'os.posix_fallocate(3, 0, 16384)',
  'copy-range': 'os.copy_file_range(src, 3, 8, 0, 0)',
  sendfile: 'os.lseek(3, 0, 0)\nos.sendfile(3, src, 0, 8)',
  splice: 'r, w = os.pipe()\nos.write(w, b"abc")\nos.splice(r, 3, 3, offset_dst=0)',
  'shared-map': 'mmap.mmap(3, 4096, mmap.MAP_SHARED, mmap.PROT_READ | mmap.PROT_WRITE).close()',
  read: 'os.pread(3, 4, 0)',
})}`;
    const denied = { write: 'denied', fallocate: 'denied', 'copy-range': 'denied', sendfile: 'denied', splice: 'denied', 'shared-map': 'denied', read: 'ok' };
    expect(attack(script(writes.path))).toEqual(denied);
    expect(attack(script(quiet.path))).toEqual({ write: 'ok', fallocate: 'ok', 'copy-range': 'ok', sendfile: 'ok', splice: 'ok', 'shared-map': 'ok', read: 'ok' });
    // Writes to pipes and other files are not decided by the rule.
    expect(attack(`echo $$ > ${writes.path}/cgroup.procs; ${probes('', { pipe: 'r, w = os.pipe()\nos.write(w, b"x")', other: `os.close(os.open("${join(work, 'other')}", os.O_WRONLY | os.O_CREAT))` })}`)).toEqual({ pipe: 'ok', other: 'ok' });
    active.removeScope(writes.id);
    active.clearRules(65);
  });
});

describe('attribute changes', () => {
  it('utimensat, setxattr(security.capability) and removexattr on a read-only file are denied; in a scope without the rule they go through', () => {
    const active = enforcer!;
    // The attacker chroots into the work directory, as a container's root is its image: rules name paths inside it.
    const file = join(work, 'attributes');
    writeFileSync(file, 'a\n');
    const setTrusted = spawnSync('/usr/bin/python3', ['-c', `import os; os.setxattr("${file}", "trusted.bulwark", b"1")`], { encoding: 'utf8' });
    expect(setTrusted.status, setTrusted.stderr).toBe(0);
    active.setRules(66, [{ path: '/attributes', readOnly: true, id: 88 }]);
    const attributes = makeCgroup('bulwark-adv', 'attributes', cgroups);
    active.setScope(attributes.id, 66);
    // VFS_CAP_REVISION_2 with CAP_NET_RAW permitted and effective.
    const script = probes(`import struct\nos.chroot("${work}")\nos.chdir("/")\ncapability = struct.pack("<IIIII", 0x02000001, 1 << 13, 0, 0, 0)`, {
      utime: 'os.utime("/attributes", (1, 1))',
      touch: 'os.utime("/attributes")',
      'set-capability': 'os.setxattr("/attributes", "security.capability", capability)',
      'remove-xattr': 'os.removexattr("/attributes", "trusted.bulwark")',
      'other-file': 'os.utime("/secret", (2, 2))',
    });
    expect(attack(script, attributes.path)).toEqual({ utime: 'denied', touch: 'denied', 'set-capability': 'denied', 'remove-xattr': 'denied', 'other-file': 'ok' });
    expect(attack(script, quiet.path)).toEqual({ utime: 'ok', touch: 'ok', 'set-capability': 'ok', 'remove-xattr': 'ok', 'other-file': 'ok' });
    active.removeScope(attributes.id);
    active.clearRules(66);
  });
});

/**
 * Python that tries each way of reaching `secret` by another name, each in a
 * forked child (a chroot or a mount namespace stays there), and prints
 * `way read`, `way denied` (EPERM) or `way errno-N`. `prologue` runs first,
 * in the process itself.
 */
const evasions = (prologue = '') => `
import ctypes, errno, os, sys
libc = ctypes.CDLL(None, use_errno=True)
libc.mount.argtypes = [ctypes.c_char_p, ctypes.c_char_p, ctypes.c_char_p, ctypes.c_ulong, ctypes.c_void_p]
CLONE_NEWNS, CLONE_NEWUSER, MS_BIND, MS_REC, MS_PRIVATE = 0x20000, 0x10000000, 4096, 16384, 1 << 18
work = "${work}"
def check(result):
    if result != 0:
        e = ctypes.get_errno()
        raise OSError(e, os.strerror(e))
def chroot():
    os.chroot(work)
    open("/secret").read()
def bind():
    check(libc.unshare(CLONE_NEWNS))
    check(libc.mount(None, b"/", None, MS_REC | MS_PRIVATE, None))
    check(libc.mount(work.encode(), (work + "/view").encode(), None, MS_BIND, None))
    open(work + "/view/secret").read()
def userns_bind():
    check(libc.unshare(CLONE_NEWUSER | CLONE_NEWNS))
    check(libc.mount(work.encode(), (work + "/view").encode(), None, MS_BIND, None))
    open(work + "/view/secret").read()
def by_handle():
    # name_to_handle_at needs nothing; open_by_handle_at needs CAP_DAC_READ_SEARCH, whatever file the handle names.
    handle = ctypes.create_string_buffer(136)
    ctypes.c_uint.from_buffer(handle).value = 128
    mount_id = ctypes.c_int()
    check(libc.name_to_handle_at(-100, (work + "/handle-target").encode(), handle, ctypes.byref(mount_id), 0))
    directory = os.open(work, os.O_RDONLY | os.O_DIRECTORY)
    fd = libc.open_by_handle_at(directory, handle, os.O_RDONLY)
    if fd < 0:
        check(fd)
    os.read(fd, 16)
${prologue}
def run(name, probe):
    pid = os.fork()
    if pid == 0:
        try:
            probe()
            os._exit(0)
        except OSError as error:
            os._exit(100 if error.errno == errno.EPERM else min(error.errno, 99))
    status = os.waitstatus_to_exitcode(os.waitpid(pid, 0)[1])
    print(name, "read" if status == 0 else "denied" if status == 100 else "errno-%d" % status, flush=True)
`;

describe('reaching a blocked file by another name', () => {
  // The evasion guard of @bulwark/policy (CompileOptions.evasion): CAP_SYS_CHROOT, CAP_SYS_ADMIN, CAP_DAC_READ_SEARCH blocked beside the file rule.
  const GUARDED = 67;
  const PLAIN = 68;
  let guarded: { path: string; id: bigint };
  let plain: { path: string; id: bigint };

  beforeAll(() => {
    const active = enforcer!;
    mkdirSync(join(work, 'view'), { recursive: true });
    const rule = { path: join(work, 'secret'), operations: ['read' as const] };
    active.setRules(GUARDED, [
      { ...rule, id: 90 },
      { kind: 'capability', capability: 18, id: 91 },
      { kind: 'capability', capability: 21, id: 92 },
      { kind: 'capability', capability: 2, id: 93 },
    ]);
    active.setRules(PLAIN, [{ ...rule, id: 94 }]);
    guarded = makeCgroup('bulwark-adv', 'guarded', cgroups);
    plain = makeCgroup('bulwark-adv', 'plain', cgroups);
    active.setScope(guarded.id, GUARDED);
    active.setScope(plain.id, PLAIN);
  });

  it('chroot above the file, a bind mount (as root, and in a new user namespace) and open_by_handle_at are denied with the guard; without it each reads', () => {
    const script = `${evasions()}
for name, probe in [("chroot", chroot), ("bind", bind), ("userns-bind", userns_bind), ("by-handle", by_handle)]:
    run(name, probe)
`;
    writeFileSync(join(work, 'handle-target'), 'not blocked\n');
    writeFileSync(join(work, 'evasions.py'), script);
    const command = `exec /usr/bin/python3 ${join(work, 'evasions.py')}`;
    expect(attack(command, guarded.path)).toEqual({ chroot: 'denied', bind: 'denied', 'userns-bind': 'denied', 'by-handle': 'denied' });
    // Control: the same scope's file rule without the guard is read through each alias (the attack works), and the plain name is still denied.
    // (open_by_handle_at opens an unblocked file there: the probe works; a handle's path is the dentry's, so only a disconnected dentry, which tmpfs never has, would name a blocked file `/`.)
    expect(attack(command, plain.path)).toEqual({ chroot: 'read', bind: 'read', 'userns-bind': 'read', 'by-handle': 'read' });
    expect(attack(read('plain'), plain.path)).toEqual({ plain: 'denied' });
  });

  it("a runtime's set-up in the scope before it execs (runc init: pivot_root, mounts) is not held to capability rules; after the exec the process and its forks are", () => {
    // Started outside, the process moves itself into the scope (as runc init is, before the createRuntime hook returns), chroots in a fork, then execs.
    const after = join(work, 'after-exec.py');
    writeFileSync(after, `${evasions()}\nrun("after-exec", chroot)\npid = os.fork()\nif pid == 0:\n    run("forked", chroot)\n    os._exit(0)\nos.waitpid(pid, 0)\n`);
    const before = join(work, 'before-exec.py');
    writeFileSync(
      before,
      `${evasions(`open("${guarded.path}/cgroup.procs", "w").write(str(os.getpid()))`)}\nrun("before-exec", chroot)\nos.execv("/usr/bin/python3", ["/usr/bin/python3", "${after}"])\n`,
    );
    expect(attack(`exec /usr/bin/python3 ${before}`)).toEqual({ 'before-exec': 'read', 'after-exec': 'denied', forked: 'denied' });
  });
});

describe('rules that follow the file (identities)', () => {
  it('a hard link made before the rule, and a file reopened through /proc/<pid>/fd after its unlink, are denied as the file; without identities the alias goes through', async () => {
    const active = enforcer!;
    const IDENTITY = 70;
    const PATH_ONLY = 71;
    const file = (name: string) => join(work, `identity-${name}`);
    writeFileSync(file('secret'), 'secret\n');
    writeFileSync(file('conf'), 'conf\n');
    writeFileSync(file('gone'), 'gone\n');
    writeFileSync(file('other'), 'other\n');
    copyFileSync('/bin/true', file('program'));
    chmodSync(file('program'), 0o755);
    // The other names exist before any rule: an image's hard links, or links made before the policy.
    for (const name of ['secret', 'conf', 'program', 'other']) linkSync(file(name), file(`${name}-alias`));
    const rules: Rule[] = [
      { path: file('secret'), operations: ['read'], id: 95 },
      { path: file('conf'), readOnly: true, id: 96 },
      { path: file('program'), operations: ['exec'], id: 97 },
      { path: file('gone'), operations: ['read'], id: 98 },
    ];
    active.setRules(IDENTITY, rules);
    active.setRules(PATH_ONLY, rules);
    const identity = makeCgroup('bulwark-adv', 'identity', cgroups);
    const pathOnly = makeCgroup('bulwark-adv', 'path-only', cgroups);
    active.setScope(identity.id, IDENTITY);
    active.setScope(pathOnly.id, PATH_ONLY);
    const targets = identityTargets(rules);
    expect(targets.map((target) => target.path)).toEqual([file('conf'), file('gone'), file('program'), file('secret')]);
    const identities = targets.map(({ path, ops, ruleId }) => {
      const stats = statSync(path, { bigint: true });
      return { dev: kernelDevice(stats.dev), ino: stats.ino, ops, ruleId };
    });
    expect(active.setIdentities(IDENTITY, identities)).toBe(4);
    // A process outside every scope holds the file open; the file is then unlinked, leaving /proc/<pid>/fd/7 its only name.
    const holder = spawn('sh', ['-c', `exec 7< ${file('gone')}; echo up; exec sleep 600`], { stdio: ['ignore', 'pipe', 'inherit'] });
    children.push(holder);
    await new Promise((resolve) => holder.stdout.once('data', resolve));
    unlinkSync(file('gone'));
    const probe = (label: string, test: string, ok: string) => `if (${test}) 2>/dev/null; then echo ${label} ${ok}; else echo ${label} denied; fi`;
    const script = [
      probe('alias-read', `: < ${file('secret-alias')}`, 'read'),
      probe('alias-write', `echo x >> ${file('conf-alias')}`, 'written'),
      probe('alias-exec', file('program-alias'), 'ran'),
      probe('fd-reopen', `: < /proc/${holder.pid}/fd/7`, 'read'),
      probe('name', `: < ${file('secret')}`, 'read'),
      probe('alias-conf-read', `: < ${file('conf-alias')}`, 'read'),
      probe('other-alias', `: < ${file('other-alias')}`, 'read'),
    ].join('\n');
    expect(attack(script, identity.path)).toEqual({
      'alias-read': 'denied',
      'alias-write': 'denied',
      'alias-exec': 'denied',
      'fd-reopen': 'denied',
      name: 'denied',
      'alias-conf-read': 'read',
      'other-alias': 'read',
    });
    // Control: the same rules by path only. Each alias goes through (the attack works), the unlinked file too; the named file is denied.
    expect(attack(script, pathOnly.path)).toEqual({
      'alias-read': 'read',
      'alias-write': 'written',
      'alias-exec': 'ran',
      'fd-reopen': 'read',
      name: 'denied',
      'alias-conf-read': 'read',
      'other-alias': 'read',
    });
    // Cleared, the scope is back to its path rules.
    expect(active.clearIdentities(IDENTITY)).toBe(4);
    expect(attack(probe('alias-read', `: < ${file('secret-alias')}`, 'read'), identity.path)).toEqual({ 'alias-read': 'read' });
    holder.kill('SIGKILL');
    for (const cgroup of [identity, pathOnly]) active.removeScope(cgroup.id);
    active.clearRules(IDENTITY);
    active.clearRules(PATH_ONLY);
  });
});

/** A long-lived python process to be a target: it prints `up`, then sleeps; SIGIO's default action would end it. */
function target(): Promise<ChildProcess> {
  const child = spawn('/usr/bin/python3', ['-c', 'import sys, time\nprint("up", flush=True)\ntime.sleep(600)'], { stdio: ['ignore', 'pipe', 'inherit'] });
  children.push(child);
  return new Promise((resolve, reject) => {
    child.stdout.once('data', () => resolve(child));
    child.once('error', reject);
  });
}

/** Python that tries each way of harming `pid` and prints `way ok` or `way <errno name>`. */
const harm = (pid: number) => `
import ctypes, errno, fcntl, os, resource, signal, socket, time
libc = ctypes.CDLL(None, use_errno=True)
pid = ${pid}
def report(way, call):
    try:
        call()
        print(way, 'ok', flush=True)
    except OSError as error:
        print(way, errno.errorcode.get(error.errno, str(error.errno)), flush=True)
def check(result):
    if result == -1:
        e = ctypes.get_errno()
        raise OSError(e, os.strerror(e))
def ptrace():
    check(libc.ptrace(16, pid, None, None))  # PTRACE_ATTACH
    os.waitpid(pid, 0x40000000)  # __WALL
    check(libc.ptrace(17, pid, None, None))  # PTRACE_DETACH
def mem():
    with open(f'/proc/{pid}/mem', 'rb'):
        pass
class iovec(ctypes.Structure):
    _fields_ = [('base', ctypes.c_void_p), ('len', ctypes.c_size_t)]
def vm_read():
    buffer = ctypes.create_string_buffer(8)
    local = iovec(ctypes.cast(buffer, ctypes.c_void_p), 8)
    remote = iovec(ctypes.c_void_p(0x400000), 8)
    result = libc.process_vm_readv(pid, ctypes.byref(local), 1, ctypes.byref(remote), 1, 0)
    if result == -1 and ctypes.get_errno() in (errno.EFAULT, errno.EIO):
        return  # the access check passed; the address was not mapped
    check(result)
def rlimit():
    resource.prlimit(pid, resource.RLIMIT_CPU, (3600, 3600))
def nice():
    os.setpriority(os.PRIO_PROCESS, pid, 5)
def scheduler():
    os.sched_setscheduler(pid, os.SCHED_BATCH, os.sched_param(0))
def ioprio():
    check(libc.syscall(251, 1, pid, (3 << 13)))  # ioprio_set(IOPRIO_WHO_PROCESS, pid, IOPRIO_CLASS_IDLE)
def kill():
    os.kill(pid, 0)
def oom():
    # The OOM killer's first choice: written by root without ptrace's access check.
    with open(f'/proc/{pid}/oom_score_adj', 'w') as adj:
        adj.write('1000')
def oom_task():
    with open(f'/proc/{pid}/task/{pid}/oom_score_adj', 'w') as adj:
        adj.write('1000')
report('signal', kill)
report('oom', oom)
report('oom_task', oom_task)
report('ptrace', ptrace)
report('mem', mem)
report('vm_read', vm_read)
report('rlimit', rlimit)
report('nice', nice)
report('scheduler', scheduler)
report('ioprio', ioprio)
# SIGIO: the target as the owner of a socket that becomes readable; SIGIO ends a process that does not handle it.
a, b = socket.socketpair()
fcntl.fcntl(a, fcntl.F_SETOWN, pid)
fcntl.fcntl(a, fcntl.F_SETFL, fcntl.fcntl(a, fcntl.F_GETFL) | os.O_ASYNC)
b.send(b'x')
time.sleep(0.5)
print('sigio', 'sent', flush=True)
`;

function runHarm(pid: number, cgroup?: string): Record<string, string> {
  writeFileSync(join(work, `harm-${pid}.py`), harm(pid));
  return attack(`exec /usr/bin/python3 ${join(work, `harm-${pid}.py`)}`, cgroup);
}

const alive = (child: ChildProcess) => child.exitCode === null && child.signalCode === null;

describe('harming the agent from a scope', () => {
  it('a protected process cannot be signalled, made the OOM killer\'s first choice, traced, read, limited, reniced, rescheduled or sent SIGIO from a scope; an unprotected one can', async () => {
    const active = enforcer!;
    const guarded = await target();
    const plain = await target();
    active.protect(guarded.pid!);
    try {
      // /proc/<pid>/mem reports a refused access check as EACCES.
      const denied = { signal: 'EPERM', oom: 'EPERM', oom_task: 'EPERM', ptrace: 'EPERM', mem: 'EACCES', vm_read: 'EPERM', rlimit: 'EPERM', nice: 'EPERM', scheduler: 'EPERM', ioprio: 'EPERM', sigio: 'sent' };
      expect(runHarm(guarded.pid!, quiet.path)).toEqual(denied);
      // Control: the same from the same scope on an unprotected process goes through (and its SIGIO ends it).
      expect(runHarm(plain.pid!, quiet.path)).toEqual({ signal: 'ok', oom: 'ok', oom_task: 'ok', ptrace: 'ok', mem: 'ok', vm_read: 'ok', rlimit: 'ok', nice: 'ok', scheduler: 'ok', ioprio: 'ok', sigio: 'sent' });
      await new Promise((resolve) => setTimeout(resolve, 500));
      expect(plain.signalCode).toBe('SIGIO');
      expect(alive(guarded)).toBe(true);
      // From the host, everything but SIGIO works on the protected process (the agent never asks for SIGIO).
      const fromHost = await target();
      active.protect(fromHost.pid!);
      expect(runHarm(fromHost.pid!)).toEqual({ signal: 'ok', oom: 'ok', oom_task: 'ok', ptrace: 'ok', mem: 'ok', vm_read: 'ok', rlimit: 'ok', nice: 'ok', scheduler: 'ok', ioprio: 'ok', sigio: 'sent' });
      await new Promise((resolve) => setTimeout(resolve, 500));
      expect(alive(fromHost)).toBe(true);
      active.unprotect(fromHost.pid!);
      // Each blocked attempt was counted against the scope that made it.
      expect(active.decisions(QUIET).denied).toBeGreaterThanOrEqual(10n);
    } finally {
      active.unprotect(guarded.pid!);
    }
  });
});
