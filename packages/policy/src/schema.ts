/**
 * The policy language, `security.kubearmor.com/v1`: KubeArmorPolicy,
 * KubeArmorHostPolicy and KubeArmorClusterPolicy as KubeArmor's CRDs
 * define them (their openAPIV3Schema: fields, enums, patterns, limits and
 * required fields), plus KubeArmorNetworkPolicy, which is read and kept but
 * not enforced. `schema.crd.test.ts` holds these schemas against the CRDs.
 *
 * Where Bulwark reads more than the CRD admits, it is listed in
 * CRD_RELAXATIONS: KubeArmor outside Kubernetes (its systemd mode, which has
 * no API server to check a policy) accepts these spellings too, and so do
 * policies written for it.
 *
 * Unknown fields are refused, as `kubectl apply` does by default (strict
 * field validation): a misspelt `matchPath` would otherwise be a rule that
 * silently does nothing.
 *
 * Schemas are built on first use, not at import.
 */
import * as z from 'zod';

export const API_VERSION = 'security.kubearmor.com/v1';
export const POLICY_KINDS = ['KubeArmorPolicy', 'KubeArmorHostPolicy', 'KubeArmorClusterPolicy', 'KubeArmorNetworkPolicy'] as const;
export type PolicyKind = (typeof POLICY_KINDS)[number];

/** The CRD's capability names (without `cap_`). */
export const CAPABILITY_NAMES = [
  'chown', 'dac_override', 'dac_read_search', 'fowner', 'fsetid', 'kill', 'setgid', 'setuid', 'setpcap', 'linux_immutable',
  'net_bind_service', 'net_broadcast', 'net_admin', 'net_raw', 'ipc_lock', 'ipc_owner', 'sys_module', 'sys_rawio', 'sys_chroot',
  'sys_ptrace', 'sys_pacct', 'sys_admin', 'sys_boot', 'sys_nice', 'sys_resource', 'sys_time', 'sys_tty_config', 'mknod', 'lease',
  'audit_write', 'audit_control', 'setfcap', 'mac_override', 'mac_admin',
] as const;
/** The CRD's protocol names (it lists each in lower and upper case). */
export const PROTOCOL_NAMES = ['tcp', 'udp', 'raw', 'icmp', 'icmpv6', 'sctp', 'stream', 'dgram', 'rdm', 'seqpacket', 'dccp', 'packet', 'all'] as const;
export const ACTIONS = ['Allow', 'Audit', 'Block'] as const;
export type PolicyAction = (typeof ACTIONS)[number];

/**
 * What Bulwark accepts beyond the CRD, field by field (a JSON path with `*`
 * for array items, and what is more lenient), and, where a CRD pattern is
 * anchored only at its end, what it refuses that the pattern lets through.
 * The CRD cross-check test allows exactly these differences.
 */
export const CRD_RELAXATIONS: readonly { readonly field: string; readonly accepts: string; readonly refuses?: string }[] = [
  { field: 'action', accepts: 'Allow, Audit and Block in any case (KubeArmor lowercases the action)' },
  {
    field: 'capability',
    accepts: 'any case, and a comma-separated list (the CRD pattern already admits a list ending in a valid name)',
    refuses: 'what is not a list of names (the CRD pattern has no leading ^ and checks only the end, so it admits xchown, x,chown or chown;net_raw)',
  },
  {
    field: 'protocol',
    accepts: 'any case, and a comma-separated list',
    refuses: 'what is not a list of protocols (the CRD pattern has no leading ^ and checks only the end, so it admits xtcp, cap_tcp or x,tcp)',
  },
];

// The CRD's patterns (ECMA-262, as the API server checks them).
export const PATH_PATTERN = /^\/+.*[^/]$/u;
export const DIRECTORY_PATTERN = /^\/$|^\/.*\/$/u;
export const SYSCALL_PATH_PATTERN = /^\/+.*[^/]$|^\/$|^\/.*\/$/u;
export const EXECNAME_PATTERN = /^[^/]+$/u;
const CRD_CAPABILITY_PATTERN = new RegExp(`(${CAPABILITY_NAMES.join('|')})$`, 'u');
const CRD_PROTOCOL_PATTERN = new RegExp(`(${PROTOCOL_NAMES.flatMap((name) => [name, name.toUpperCase()]).join('|')})$`, 'u');
/**
 * A capability item: one name or a comma-separated list, each with or without `cap_`, any case. Like the CRD pattern, it ends
 * at the last name (no blank after it).
 */
const CAPABILITY_LIST = new RegExp(`^\\s*(cap_)?(${CAPABILITY_NAMES.join('|')})(\\s*,\\s*(cap_)?(${CAPABILITY_NAMES.join('|')}))*$`, 'iu');
const PROTOCOL_LIST = new RegExp(`^\\s*(${PROTOCOL_NAMES.join('|')})(\\s*,\\s*(${PROTOCOL_NAMES.join('|')}))*$`, 'iu');

/** The syscalls the CRD lists for `syscalls.*.syscall`. */
export const SYSCALL_NAMES = [
  'read', 'write', 'open', 'close', 'stat', 'fstat', 'lstat', 'poll', 'lseek', 'mmap', 'mprotect', 'munmap', 'brk',
  'rt_sigaction', 'rt_sigprocmask', 'rt_sigreturn', 'ioctl', 'pread64', 'pwrite64', 'readv', 'writev', 'access', 'pipe',
  'select', 'sched_yield', 'mremap', 'msync', 'mincore', 'madvise', 'shmget', 'shmat', 'shmctl', 'dup', 'dup2', 'pause',
  'nanosleep', 'getitimer', 'alarm', 'setitimer', 'getpid', 'sendfile', 'socket', 'connect', 'accept', 'sendto', 'recvfrom',
  'sendmsg', 'recvmsg', 'shutdown', 'bind', 'listen', 'getsockname', 'getpeername', 'socketpair', 'setsockopt', 'getsockopt',
  'clone', 'fork', 'vfork', 'execve', 'exit', 'wait4', 'kill', 'uname', 'semget', 'semop', 'semctl', 'shmdt', 'msgget', 'msgsnd',
  'msgrcv', 'msgctl', 'fcntl', 'flock', 'fsync', 'fdatasync', 'truncate', 'ftruncate', 'getdents', 'getcwd', 'chdir', 'fchdir',
  'rename', 'mkdir', 'rmdir', 'creat', 'link', 'unlink', 'symlink', 'readlink', 'chmod', 'fchmod', 'chown', 'fchown', 'lchown',
  'umask', 'gettimeofday', 'getrlimit', 'getrusage', 'sysinfo', 'times', 'ptrace', 'getuid', 'syslog', 'getgid', 'setuid',
  'setgid', 'geteuid', 'getegid', 'setpgid', 'getppid', 'getpgrp', 'setsid', 'setreuid', 'setregid', 'getgroups', 'setgroups',
  'setresuid', 'getresuid', 'setresgid', 'getresgid', 'getpgid', 'setfsuid', 'setfsgid', 'getsid', 'capget', 'capset',
  'rt_sigpending', 'rt_sigtimedwait', 'rt_sigqueueinfo', 'rt_sigsuspend', 'sigaltstack', 'utime', 'mknod', 'uselib',
  'personality', 'ustat', 'statfs', 'fstatfs', 'sysfs', 'getpriority', 'setpriority', 'sched_setparam', 'sched_getparam',
  'sched_setscheduler', 'sched_getscheduler', 'sched_get_priority_max', 'sched_get_priority_min', 'sched_rr_get_interval',
  'mlock', 'munlock', 'mlockall', 'munlockall', 'vhangup', 'modify_ldt', 'pivot_root', '_sysctl', 'prctl', 'arch_prctl',
  'adjtimex', 'setrlimit', 'chroot', 'sync', 'acct', 'settimeofday', 'mount', 'umount2', 'swapon', 'swapoff', 'reboot',
  'sethostname', 'setdomainname', 'iopl', 'ioperm', 'create_module', 'init_module', 'delete_module', 'get_kernel_syms',
  'query_module', 'quotactl', 'nfsservctl', 'getpmsg', 'putpmsg', 'afs_syscall', 'tuxcall', 'security', 'gettid', 'readahead',
  'setxattr', 'lsetxattr', 'fsetxattr', 'getxattr', 'lgetxattr', 'fgetxattr', 'listxattr', 'llistxattr', 'flistxattr',
  'removexattr', 'lremovexattr', 'fremovexattr', 'tkill', 'time', 'futex', 'sched_setaffinity', 'sched_getaffinity',
  'set_thread_area', 'io_setup', 'io_destroy', 'io_getevents', 'io_submit', 'io_cancel', 'get_thread_area', 'lookup_dcookie',
  'epoll_create', 'epoll_ctl_old', 'epoll_wait_old', 'remap_file_pages', 'getdents64', 'set_tid_address', 'restart_syscall',
  'semtimedop', 'fadvise64', 'timer_create', 'timer_settime', 'timer_gettime', 'timer_getoverrun', 'timer_delete',
  'clock_settime', 'clock_gettime', 'clock_getres', 'clock_nanosleep', 'exit_group', 'epoll_wait', 'epoll_ctl', 'tgkill',
  'utimes', 'vserver', 'mbind', 'set_mempolicy', 'get_mempolicy', 'mq_open', 'mq_unlink', 'mq_timedsend', 'mq_timedreceive',
  'mq_notify', 'mq_getsetattr', 'kexec_load', 'waitid', 'add_key', 'request_key', 'keyctl', 'ioprio_set', 'ioprio_get',
  'inotify_init', 'inotify_add_watch', 'inotify_rm_watch', 'migrate_pages', 'openat', 'mkdirat', 'mknodat', 'fchownat',
  'futimesat', 'newfstatat', 'unlinkat', 'renameat', 'linkat', 'symlinkat', 'readlinkat', 'fchmodat', 'faccessat', 'pselect6',
  'ppoll', 'unshare', 'set_robust_list', 'get_robust_list', 'splice', 'tee', 'sync_file_range', 'vmsplice', 'move_pages',
  'utimensat', 'epoll_pwait', 'signalfd', 'timerfd_create', 'eventfd', 'fallocate', 'timerfd_settime', 'timerfd_gettime',
  'accept4', 'signalfd4', 'eventfd2', 'epoll_create1', 'dup3', 'pipe2', 'inotify_init1', 'preadv', 'pwritev',
  'rt_tgsigqueueinfo', 'perf_event_open', 'recvmmsg', 'fanotify_init', 'fanotify_mark', 'prlimit64', 'name_to_handle_at',
  'open_by_handle_at', 'clock_adjtime', 'syncfs', 'sendmmsg', 'setns', 'getcpu', 'process_vm_readv', 'process_vm_writev', 'kcmp',
  'finit_module', 'sched_setattr', 'sched_getattr', 'renameat2', 'seccomp', 'getrandom', 'memfd_create', 'kexec_file_load',
  'bpf', 'execveat', 'userfaultfd', 'membarrier', 'mlock2', 'copy_file_range', 'preadv2', 'pwritev2', 'pkey_mprotect',
  'pkey_alloc', 'pkey_free', 'statx', 'io_pgetevents', 'rseq',
] as const;

function lazy<T>(build: () => T): () => T {
  let value: T | undefined;
  return () => (value ??= build());
}

const severity = () => z.int({ error: 'expected an integer from 1 to 10' }).min(1, 'expected an integer from 1 to 10').max(10, 'expected an integer from 1 to 10');
const tags = () => z.array(z.string());
const action = () =>
  z.string().refine((value) => ACTIONS.some((name) => name.toLowerCase() === value.toLowerCase()), {
    message: "expected 'Allow', 'Audit' or 'Block'",
  });
const absolutePath = (what: string) =>
  z
    .string()
    .max(200, `expected at most 200 characters (the CRD's limit for ${what})`)
    .regex(PATH_PATTERN, `expected an absolute ${what} not ending in '/' (the CRD's pattern ^/+.*[^/]$)`);
const directory = () => z.string().regex(DIRECTORY_PATTERN, "expected an absolute directory ending in '/' (the CRD's pattern ^/$|^/.*/$)");
const fromSource = () => z.array(z.strictObject({ path: z.optional(absolutePath('executable path')) }));
/** severity, tags and message: on the spec, each section and each rule. */
const annotations = {
  severity: z.optional(severity()),
  tags: z.optional(tags()),
  message: z.optional(z.string()),
};
/** The annotations and action (all but the syscalls section, which has no action in the CRD). */
const common = { ...annotations, action: z.optional(action()) };

export type SchemaKind = Exclude<PolicyKind, 'KubeArmorNetworkPolicy'>;

function buildSpec(kind: SchemaKind) {
  const host = kind === 'KubeArmorHostPolicy';
  // pts is on every process and file rule, and on network rules but in host policies (the host CRD has none there).
  const pts = { pts: z.optional(z.boolean()) };
  const processPath = z.strictObject({
    path: z.optional(absolutePath('executable path')),
    execname: z.optional(z.string().regex(EXECNAME_PATTERN, "expected an executable name without '/'")),
    ownerOnly: z.optional(z.boolean()),
    fromSource: z.optional(fromSource()),
    allowedArgs: z.optional(z.array(z.string()).max(20, 'expected at most 20 arguments')),
    ...pts,
    ...common,
  });
  const processDirectory = z.strictObject({
    dir: directory(),
    recursive: z.optional(z.boolean()),
    ownerOnly: z.optional(z.boolean()),
    fromSource: z.optional(fromSource()),
    ...pts,
    ...common,
  });
  const processPattern = z.strictObject({ pattern: z.string(), ownerOnly: z.optional(z.boolean()), ...common });
  const filePath = z.strictObject({
    path: absolutePath('file path'),
    readOnly: z.optional(z.boolean()),
    ownerOnly: z.optional(z.boolean()),
    fromSource: z.optional(fromSource()),
    ...pts,
    ...common,
  });
  const fileDirectory = z.strictObject({
    dir: directory(),
    recursive: z.optional(z.boolean()),
    readOnly: z.optional(z.boolean()),
    ownerOnly: z.optional(z.boolean()),
    fromSource: z.optional(fromSource()),
    ...pts,
    ...common,
  });
  const filePattern = z.strictObject({
    pattern: z.string(),
    readOnly: z.optional(z.boolean()),
    ownerOnly: z.optional(z.boolean()),
    ...common,
  });
  const protocol = z
    .string()
    .refine((value) => PROTOCOL_LIST.test(value), { message: `expected a protocol (${PROTOCOL_NAMES.join(', ')}) or a comma-separated list of them` });
  const capability = z
    .string()
    .refine((value) => CAPABILITY_LIST.test(value), { message: 'expected a capability name such as net_raw or CAP_NET_RAW (or a comma-separated list)' });
  const hostSource = host ? fromSource() : z.optional(fromSource());
  const matchProtocol = z.strictObject({ protocol, fromSource: hostSource, ...(host ? {} : pts), ...common });
  const matchCapability = z.strictObject({ capability, fromSource: hostSource, ...common });
  const matchDnsQuery = z.strictObject({ domain: z.string(), fromSource: z.optional(fromSource()), ...common });
  const syscallSource = z.array(
    z.strictObject({ path: z.optional(absolutePath('executable path')), dir: z.optional(z.string()), recursive: z.optional(z.boolean()) }),
  );
  const syscallList = z.array(z.enum(SYSCALL_NAMES, { error: 'expected a system call name the CRD lists' }));
  const section = <T extends z.core.$ZodShape>(shape: T) => z.optional(z.strictObject({ ...shape, ...common }));
  const labels = z.record(z.string(), z.string({ error: 'expected a string label value (quote numbers and booleans)' }));

  const selector =
    kind === 'KubeArmorPolicy'
      ? {
          selector: z.optional(
            z.strictObject({
              matchLabels: z.optional(labels),
              matchExpressions: z.optional(
                z.array(
                  z.strictObject({
                    key: z.optional(z.enum(['label'], { error: "expected 'label'" })),
                    operator: z.optional(z.enum(['In', 'NotIn'], { error: "expected 'In' or 'NotIn'" })),
                    values: z.optional(z.array(z.string())),
                  }),
                ),
              ),
            }),
          ),
        }
      : kind === 'KubeArmorClusterPolicy'
        ? {
            selector: z.optional(
              z.strictObject({
                matchExpressions: z.optional(
                  z.array(
                    z.strictObject({
                      key: z.optional(z.enum(['namespace', 'label'], { error: "expected 'namespace' or 'label'" })),
                      operator: z.optional(z.enum(['In', 'NotIn'], { error: "expected 'In' or 'NotIn'" })),
                      values: z.optional(z.array(z.string())),
                    }),
                  ),
                ),
              }),
            ),
          }
        : { nodeSelector: z.strictObject({ matchLabels: z.optional(labels) }) };

  return z.strictObject({
    ...selector,
    ...common,
    process: section({
      matchPaths: z.optional(z.array(processPath)),
      matchDirectories: z.optional(z.array(processDirectory)),
      matchPatterns: z.optional(z.array(processPattern)),
    }),
    file: section({
      matchPaths: z.optional(z.array(filePath)),
      matchDirectories: z.optional(z.array(fileDirectory)),
      matchPatterns: z.optional(z.array(filePattern)),
    }),
    network: section({
      matchProtocols: z.optional(z.array(matchProtocol)),
      matchDNSQueries: z.optional(z.array(matchDnsQuery)),
    }),
    capabilities: section({ matchCapabilities: z.optional(z.array(matchCapability)) }),
    syscalls: z.optional(
      z.strictObject({
        matchSyscalls: z.optional(z.array(z.strictObject({ syscall: z.optional(syscallList), fromSource: z.optional(syscallSource) }))),
        matchPaths: z.optional(
          z.array(
            z.strictObject({
              path: z.optional(z.string().regex(SYSCALL_PATH_PATTERN, 'expected an absolute file or directory path')),
              recursive: z.optional(z.boolean()),
              syscall: z.optional(syscallList),
              fromSource: z.optional(syscallSource),
            }),
          ),
        ),
        ...annotations,
      }),
    ),
    apparmor: z.optional(z.string()),
    ...(kind !== 'KubeArmorHostPolicy'
      ? { presets: z.optional(z.array(z.strictObject({ name: z.optional(z.string()), action: z.optional(action()) }))) }
      : {}),
    ...(host
      ? {
          device: section({
            matchDevice: z.optional(
              z.array(
                z.strictObject({
                  class: z.string(),
                  subClass: z.optional(z.int32({ error: 'expected a 32-bit integer' })),
                  protocol: z.optional(z.int32({ error: 'expected a 32-bit integer' })),
                  level: z.optional(z.int32({ error: 'expected an integer from 1 to 2147483647' }).min(1, 'expected an integer from 1 to 2147483647')),
                  ...common,
                }),
              ),
            ),
          }),
        }
      : {}),
  });
}

const metadata = () =>
  z.looseObject({
    name: z
      .string({ error: 'expected a policy name' })
      .min(1, 'expected a policy name')
      .max(253, 'expected at most 253 characters')
      .regex(/^[a-z0-9]([-a-z0-9.]*[a-z0-9])?$/u, 'expected a Kubernetes object name (lowercase letters, digits, - and .)'),
    namespace: z.optional(z.string().regex(/^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/u, 'expected a Kubernetes namespace name')),
  });

const apiVersion = () =>
  z.literal(API_VERSION, {
    error: (issue) => (issue.input === undefined ? `missing required field (expected '${API_VERSION}')` : `expected '${API_VERSION}'`),
  });

/** status: what the API server writes back, as the CRD declares it. */
const status = () => z.optional(z.strictObject({ status: z.optional(z.string()) }));

/**
 * The top level: the fields of a Kubernetes object, no others. The CRD does
 * not require spec; a document without one (or with `spec:` and nothing in
 * it: a null, which the API server prunes and parse.ts drops) reads as
 * KubeArmor reads it, as the zero value of its spec type: no rules, and for
 * a host policy an empty nodeSelector.
 */
function buildDocument(kind: SchemaKind) {
  return z.strictObject({
    apiVersion: apiVersion(),
    kind: z.literal(kind),
    metadata: metadata(),
    spec: buildSpec(kind).prefault(kind === 'KubeArmorHostPolicy' ? { nodeSelector: {} } : {}),
    status: status(),
  });
}

/** KubeArmorNetworkPolicy: read for its metadata and kept; its spec is not enforced (host network rules are out of scope). */
function buildNetworkPolicyDocument() {
  return z.strictObject({
    apiVersion: apiVersion(),
    kind: z.literal('KubeArmorNetworkPolicy'),
    metadata: metadata(),
    spec: z.looseObject({}),
    status: status(),
  });
}

export const policyDocumentSchemas = {
  KubeArmorPolicy: lazy(() => buildDocument('KubeArmorPolicy')),
  KubeArmorHostPolicy: lazy(() => buildDocument('KubeArmorHostPolicy')),
  KubeArmorClusterPolicy: lazy(() => buildDocument('KubeArmorClusterPolicy')),
  KubeArmorNetworkPolicy: lazy(buildNetworkPolicyDocument),
};

export type KubeArmorPolicyDocument = z.infer<ReturnType<typeof policyDocumentSchemas.KubeArmorPolicy>>;
export type KubeArmorHostPolicyDocument = z.infer<ReturnType<typeof policyDocumentSchemas.KubeArmorHostPolicy>>;
export type KubeArmorClusterPolicyDocument = z.infer<ReturnType<typeof policyDocumentSchemas.KubeArmorClusterPolicy>>;
export type KubeArmorNetworkPolicyDocument = z.infer<ReturnType<typeof policyDocumentSchemas.KubeArmorNetworkPolicy>>;

/** A spec of any enforced kind: one type, since buildSpec's type does not depend on the kind (selectors differ by kind at run time). */
export type PolicySpec = z.output<ReturnType<typeof buildSpec>>;

export { CRD_CAPABILITY_PATTERN, CRD_PROTOCOL_PATTERN };
