import { decodeRuleValue, OPERATION_BITS } from '@bulwark/ebpf-lsm/rules';
import { describe, expect, it } from 'vitest';
import { compilePolicies, encodeCompiled, rootAliases, type CompileOptions } from './compile.js';
import { decide } from './decide.js';
import { parsePolicies } from './parse.js';
import { parseQuery } from './query.js';
import type { Workload } from './select.js';

const web: Workload = { kind: 'container', name: 'web', labels: { app: 'web' } };

/** Compiles `spec` for the web container; without the evasion guard unless `options` asks for it (its own tests below). */
function compile(spec: string, options: CompileOptions = {}) {
  const text = `apiVersion: security.kubearmor.com/v1
kind: KubeArmorPolicy
metadata:
  name: p
spec:
  selector:
    matchLabels:
      app: web
${spec}`;
  const result = parsePolicies(text, 'p.yaml');
  expect(result.errors.map((error) => error.message)).toEqual([]);
  return compilePolicies(result.policies, web, { evasion: 'allow', ...options });
}

const verdict = (compiled: ReturnType<typeof compile>, query: string) => decide(compiled, parseQuery(query)).verdict;

describe('compilation', () => {
  it('inherits action, severity, tags and message from rule, then section, then spec; Block when absent', () => {
    const compiled = compile(`  severity: 3
  tags: [spec-tag]
  message: spec message
  file:
    severity: 5
    action: audit
    matchPaths:
    - path: /a
    - path: /b
      action: ALLOW
      tags: [rule-tag]
      message: rule message
  process:
    matchPaths:
    - path: /bin/x
`);
    expect(compiled.rules.map(({ rule, origin }) => [rule.action, origin.action, origin.severity, origin.tags, origin.message])).toEqual([
      ['block', 'Block', 3, ['spec-tag'], 'spec message'],
      ['audit', 'Audit', 5, ['spec-tag'], 'spec message'],
      ['allow', 'Allow', 5, ['rule-tag'], 'rule message'],
    ]);
    expect(compiled.rules.map(({ origin }) => [origin.field, origin.line, origin.column])).toEqual([
      ['process.matchPaths.0', 23, 7],
      ['file.matchPaths.0', 16, 7],
      ['file.matchPaths.1', 17, 7],
    ]);
  });

  it('splits ownerOnly with readOnly into "everything for others, writes for the owner too"', () => {
    const compiled = compile(`  file:
    matchDirectories:
    - dir: /home/user1/
      recursive: true
      ownerOnly: true
      readOnly: true
  action: Block
`);
    expect(compiled.rules.map(({ rule }) => rule)).toEqual([
      { path: '/home/user1/', recursive: true, ownerOnly: true, action: 'block', id: 1 },
      { path: '/home/user1/', recursive: true, readOnly: true, action: 'block', id: 2 },
    ]);
    expect(verdict(compiled, 'read /home/user1/a/b as owner')).toBe('allow');
    expect(verdict(compiled, 'write /home/user1/a/b as owner')).toBe('block');
    expect(verdict(compiled, 'read /home/user1/a/b')).toBe('block');
    expect(verdict(compiled, 'read /home/user2/a')).toBe('allow');
  });

  it('encodes the split so that the owner is spared only what every rule spares (the kernel reads owner_ops)', () => {
    const compiled = compile(`  file:
    matchPaths:
    - path: /secret
      ownerOnly: true
      readOnly: true
  action: Block
`);
    const entry = encodeCompiled(compiled).find((candidate) => candidate.key.subarray(8, 15).toString() === '/secret');
    const value = decodeRuleValue(entry!.value);
    expect(value.ops[0] & OPERATION_BITS.write).not.toBe(0);
    // Writes are blocked for everyone: no owner exemption for them.
    expect(value.ownerOps[0] & OPERATION_BITS.write).toBe(0);
    expect(value.ownerOps[0] & OPERATION_BITS.read).not.toBe(0);
  });

  it('gives process rules exec only, and non-recursive directories their entries only', () => {
    const compiled = compile(`  process:
    matchDirectories:
    - dir: /usr/sbin/
    matchPaths:
    - execname: nc
  action: Block
`);
    expect(verdict(compiled, 'exec /usr/sbin/tcpdump')).toBe('block');
    expect(verdict(compiled, 'exec /usr/sbin/x/y')).toBe('allow');
    expect(verdict(compiled, 'read /usr/sbin/tcpdump')).toBe('allow');
    expect(verdict(compiled, 'exec /opt/bin/nc')).toBe('block');
  });

  it('expands protocol and capability lists, and net_raw Block to the raw sockets', () => {
    const compiled = compile(`  network:
    matchProtocols:
    - protocol: TCP, udp
  capabilities:
    matchCapabilities:
    - capability: CAP_NET_RAW,sys_admin
  action: Block
`);
    expect(verdict(compiled, 'socket AF_INET SOCK_STREAM 0')).toBe('block');
    expect(verdict(compiled, 'socket AF_INET6 SOCK_DGRAM 17')).toBe('block');
    expect(verdict(compiled, 'socket AF_UNIX SOCK_STREAM 0')).toBe('allow');
    expect(verdict(compiled, 'socket AF_PACKET SOCK_RAW 768')).toBe('block');
    expect(verdict(compiled, 'capability net_raw')).toBe('block');
    expect(verdict(compiled, 'capability sys_admin')).toBe('block');
    expect(verdict(compiled, 'capability chown')).toBe('allow');
  });

  it('puts a category in allow-list mode with an Allow rule, even one with fromSource; the posture decides the rest', () => {
    const spec = `  network:
    matchProtocols:
    - protocol: tcp
      fromSource:
      - path: /usr/bin/curl
  action: Allow
`;
    expect(verdict(compile(spec), 'socket tcp from /usr/bin/curl')).toBe('allow');
    expect(verdict(compile(spec), 'socket tcp from /usr/bin/wget')).toBe('posture-block');
    expect(verdict(compile(spec, { postures: { network: 'audit' } }), 'socket udp')).toBe('posture-audit');
    expect(verdict(compile(spec), 'read /etc/passwd')).toBe('allow');
    // With the allow posture an Allow rule changes nothing: it is left out and reported.
    const open = compile(spec, { postures: { network: 'allow' } });
    expect(open.rules).toHaveLength(0);
    expect(open.notEnforced[0]!.why).toContain('posture is allow');
    expect(verdict(open, 'socket udp')).toBe('allow');
  });

  it('makes process follow the file posture', () => {
    const compiled = compile(`  process:
    matchPaths:
    - path: /bin/sh
  action: Allow
`, { postures: { file: 'audit' } });
    expect(compiled.postures.process).toBe('audit');
    expect(verdict(compiled, 'exec /bin/ls')).toBe('posture-audit');
  });

  it('decides Block over Audit over Allow, reporting the first rule of the winning action', () => {
    const compiled = compile(`  file:
    matchDirectories:
    - dir: /etc/
      recursive: true
      action: Allow
    - dir: /etc/ssl/
      recursive: true
      action: Audit
    matchPaths:
    - path: /etc/ssl/private.key
      action: Block
`);
    // Rules are numbered in field order: matchPaths, then matchDirectories.
    expect(decide(compiled, parseQuery('read /etc/ssl/private.key'))).toMatchObject({ verdict: 'block', rule: { rule: { id: 1 } } });
    expect(decide(compiled, parseQuery('read /etc/ssl/cert.pem'))).toMatchObject({ verdict: 'audit', rule: { rule: { id: 3 } } });
    expect(decide(compiled, parseQuery('read /etc/hosts'))).toMatchObject({ verdict: 'allow', by: 'rule' });
    expect(verdict(compiled, 'read /var/log/x')).toBe('posture-block');
  });

  it('protects a blocked name: no rename or link of it or of a directory above it', () => {
    const compiled = compile(`  file:
    matchPaths:
    - path: /srv/data/secret
  action: Block
`);
    expect(verdict(compiled, 'rename /srv/data')).toBe('block');
    expect(verdict(compiled, 'link /srv/data/secret')).toBe('block');
    expect(verdict(compiled, 'rename /srv/other')).toBe('allow');
  });

  it('names the policy in every rule, and reports unenforced fields with their key positions', () => {
    const compiled = compile(`  process:
    matchPaths:
    - path: /bin/sh
      allowedArgs: [-c]
  syscalls:
    matchSyscalls:
    - syscall: [mount]
`);
    expect(compiled.rules.every(({ origin }) => origin.policy === 'p' && origin.kind === 'KubeArmorPolicy')).toBe(true);
    expect(compiled.notEnforced.map((item) => [item.field, item.line, item.column])).toEqual([
      ['syscalls', 13, 3],
      ['process.matchPaths.0.allowedArgs', 12, 7],
    ]);
  });
});

describe('merged /usr (rootAliases)', () => {
  const merged = rootAliases((name) => ({ bin: 'usr/bin', sbin: 'usr/sbin', lib: '/usr/lib', lib64: 'usr/lib64' })[name as string]);

  it('reads the top-level links of a root, and ignores those that leave it or point at themselves', () => {
    expect(merged).toEqual([
      { from: '/bin/', to: '/usr/bin/' },
      { from: '/sbin/', to: '/usr/sbin/' },
      { from: '/lib/', to: '/usr/lib/' },
      { from: '/lib64/', to: '/usr/lib64/' },
    ]);
    expect(rootAliases((name) => ({ bin: '../../etc', sbin: '/', lib: './lib', lib32: 'usr/./lib32/' })[name as string])).toEqual([{ from: '/lib32/', to: '/usr/lib32/' }]);
    expect(rootAliases(() => undefined)).toEqual([]);
  });

  it('a rule under an aliased directory also holds on the path the kernel resolves, with the same origin', () => {
    const spec = `  process:
    matchPaths:
    - path: /bin/busybox
  file:
    matchDirectories:
    - dir: /sbin/
      recursive: true
      readOnly: true
    matchPaths:
    - path: /etc/shadow
      fromSource:
      - path: /bin/cat
  action: Block`;
    const compiled = compile(spec, { rootAliases: merged });
    const paths = compiled.rules.map((entry) => ['path' in entry.rule ? entry.rule.path : undefined, 'path' in entry.rule ? entry.rule.fromSource : undefined, entry.origin.field]);
    expect(paths).toEqual([
      ['/bin/busybox', undefined, 'process.matchPaths.0'],
      ['/usr/bin/busybox', undefined, 'process.matchPaths.0'],
      ['/etc/shadow', '/bin/cat', 'file.matchPaths.0'],
      ['/etc/shadow', '/usr/bin/cat', 'file.matchPaths.0'],
      ['/sbin/', undefined, 'file.matchDirectories.0'],
      ['/usr/sbin/', undefined, 'file.matchDirectories.0'],
    ]);
    expect(compiled.rules[1]!.note).toBe('/bin/busybox is /usr/bin/busybox in this root (a symlinked directory): both are enforced');
    expect(compiled.rules.map((entry) => entry.rule.id)).toEqual([1, 2, 3, 4, 5, 6]);
    expect(verdict(compiled, 'exec /usr/bin/busybox')).toBe('block');
    // Without the aliases (a root where /bin is a directory), the rule is on /bin/busybox only.
    expect(verdict(compile(spec), 'exec /usr/bin/busybox')).toBe('allow');
  });
});

describe('presets', () => {
  it('compiles filelessExec (no-name files and shared-memory directories) and anonymousMapExec with the preset action, and names the presets it does not enforce', () => {
    const compiled = compile(`  severity: 8
  presets:
  - name: filelessExec
    action: Block
  - name: anonymousMapExec
    action: Audit
  - name: protectEnv
    action: Block
  - name: filelessExec
    action: Allow
`);
    expect(compiled.rules.map(({ rule, origin }) => [rule, origin.field, origin.section, origin.resource, origin.severity])).toEqual([
      [{ kind: 'preset', preset: 'filelessExec', action: 'block', id: 1 }, 'presets.0', 'process', 'filelessExec', 8],
      [{ path: '/dev/shm/', recursive: true, operations: ['exec'], action: 'block', id: 2 }, 'presets.0', 'process', 'filelessExec', 8],
      [{ path: '/run/shm/', recursive: true, operations: ['exec'], action: 'block', id: 3 }, 'presets.0', 'process', 'filelessExec', 8],
      [{ kind: 'preset', preset: 'anonymousMapExec', action: 'audit', id: 4 }, 'presets.1', 'process', 'anonymousMapExec', 8],
    ]);
    expect(compiled.notEnforced.map(({ field, why }) => [field, why])).toEqual([
      ['presets.2', "the 'protectEnv' preset: Bulwark enforces filelessExec and anonymousMapExec"],
      ['presets.3', 'a preset blocks or audits what it names: Allow has no meaning for it'],
    ]);
    // An exec from shared memory is decided by path; the preset's own rules by the kernel (no path to query).
    expect(verdict(compiled, 'exec /dev/shm/x')).toBe('block');
    expect(verdict(compiled, 'exec /usr/bin/x')).toBe('allow');
    // The rules encode: the enforcer takes them as they are.
    expect(encodeCompiled(compiled).length).toBeGreaterThan(0);
  });
});

describe('evasion guard (CompileOptions.evasion)', () => {
  const guard = (compiled: ReturnType<typeof compile>) => compiled.rules.filter((entry) => entry.note?.startsWith('evasion guard')).map((entry) => entry.origin.resource);

  it('blocks chroot, mounts and open_by_handle_at in a container whose file rules block, credited to the first such rule', () => {
    const compiled = compile(
      `  process:
    matchPaths:
    - path: /bin/ls
      action: Audit
  file:
    matchDirectories:
    - dir: /secret/
  action: Block
`,
      { evasion: 'block' },
    );
    expect(guard(compiled)).toEqual(['sys_chroot', 'sys_admin', 'dac_read_search']);
    const first = compiled.rules.find((entry) => entry.origin.resource === 'sys_chroot')!;
    expect(first.origin).toMatchObject({ policy: 'p', field: 'file.matchDirectories.0', section: 'capabilities', action: 'Block' });
    expect(first.rule).toMatchObject({ kind: 'capability', capability: 18, action: 'block' });
    expect(verdict(compiled, 'capability sys_admin')).toBe('block');
    expect(verdict(compiled, 'capability dac_read_search')).toBe('block');
    expect(verdict(compiled, 'capability chown')).toBe('allow');
    // The default is the guard.
    expect(guard(compilePolicies(parsePolicies(`apiVersion: security.kubearmor.com/v1\nkind: KubeArmorPolicy\nmetadata: {name: q}\nspec:\n  selector: {matchLabels: {app: web}}\n  file:\n    matchPaths: [{path: /etc/shadow}]\n  action: Block\n`, 'q.yaml').policies, web))).toHaveLength(3);
  });

  it('is left out for Audit-only rules, network-only policies, allow, the host, and a capability a policy decides itself', () => {
    const audit = `  file:\n    matchPaths:\n    - path: /etc/shadow\n  action: Audit\n`;
    expect(guard(compile(audit, { evasion: 'block' }))).toEqual([]);
    expect(guard(compile(`  network:\n    matchProtocols:\n    - protocol: raw\n  action: Block\n`, { evasion: 'block' }))).toEqual([]);
    const block = `  file:\n    matchPaths:\n    - path: /etc/shadow\n  action: Block\n`;
    expect(guard(compile(block, { evasion: 'allow' }))).toEqual([]);
    const host = parsePolicies(
      `apiVersion: security.kubearmor.com/v1\nkind: KubeArmorHostPolicy\nmetadata: {name: h}\nspec:\n  nodeSelector: {matchLabels: {kubernetes.io/hostname: n}}\n  file:\n    matchPaths: [{path: /etc/shadow}]\n  action: Block\n`,
      'h.yaml',
    );
    expect(host.errors).toEqual([]);
    const hostCompiled = compilePolicies(host.policies, { kind: 'host', name: 'n', labels: { 'kubernetes.io/hostname': 'n' } }, { evasion: 'block' });
    expect(hostCompiled.rules).toHaveLength(1);
    expect(guard(hostCompiled)).toEqual([]);
    // A policy that allows sys_admin (allow-list capabilities) keeps it; the other two are still guarded.
    const owned = compile(`${block}  capabilities:\n    matchCapabilities:\n    - capability: sys_admin\n      action: Allow\n`, { evasion: 'block' });
    expect(guard(owned)).toEqual(['sys_chroot', 'dac_read_search']);
    expect(verdict(owned, 'capability sys_admin')).toBe('allow');
  });

  it('guards an allow-list (file posture block), not an allow rule under posture allow', () => {
    const allowList = `  process:\n    matchPaths:\n    - path: /app\n  action: Allow\n`;
    expect(guard(compile(allowList, { evasion: 'block' }))).toHaveLength(3);
    expect(guard(compile(allowList, { evasion: 'block', postures: { file: 'audit' } }))).toEqual([]);
  });
});
