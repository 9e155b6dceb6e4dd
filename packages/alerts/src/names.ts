/**
 * How the enforcer's operations, sockets and capabilities read in an alert:
 * KubeArmor's words where KubeArmor has them (its BPF-LSM enforcer's
 * `operation` values and `lsm=` event names, its socket text), Bulwark's
 * where it has none (signals).
 */
import { OPERATION_BITS, type Operation } from '@bulwark/ebpf-lsm/rules';
import { CAPABILITY_NAMES } from '@bulwark/procfs';

/** KubeArmor's `operation` values this enforcer's events take, and Bulwark's `Signal`. */
export const ALERT_OPERATIONS = ['File', 'Process', 'Network', 'Capabilities', 'Signal', 'AlertThreshold'] as const;
export type AlertOperation = (typeof ALERT_OPERATIONS)[number];

interface OperationNames {
  /** The alert's `operation`. */
  readonly operation: AlertOperation;
  /** The LSM event's name after `lsm=`, as KubeArmor's BPF-LSM enforcer names its events. */
  readonly event: string;
}

/**
 * Per enforcer operation. KubeArmor names its BPF-LSM events by hook
 * (`FILE_OPEN`, `FILE_UNLINK`, ..., `SECURITY_BPRM_CHECK`, `SOCKET_CREATE`,
 * `CAPABLE`); `read` and `write` are both decided at file_open (a write is
 * also what creating a regular file through path_mknod is, which the event
 * does not tell apart). `TASK_KILL` is Bulwark's: KubeArmor has no signal
 * events.
 */
export const OPERATION_NAMES: Readonly<Record<Operation, OperationNames>> = {
  read: { operation: 'File', event: 'FILE_OPEN' },
  write: { operation: 'File', event: 'FILE_OPEN' },
  exec: { operation: 'Process', event: 'SECURITY_BPRM_CHECK' },
  unlink: { operation: 'File', event: 'FILE_UNLINK' },
  rmdir: { operation: 'File', event: 'FILE_RMDIR' },
  mkdir: { operation: 'File', event: 'FILE_MKDIR' },
  rename: { operation: 'File', event: 'FILE_RENAME' },
  truncate: { operation: 'File', event: 'FILE_TRUNCATE' },
  chmod: { operation: 'File', event: 'FILE_CHMOD' },
  link: { operation: 'File', event: 'FILE_LINK' },
  symlink: { operation: 'File', event: 'FILE_SYMLINK' },
  mknod: { operation: 'File', event: 'FILE_MKNOD' },
  socket: { operation: 'Network', event: 'SOCKET_CREATE' },
  capability: { operation: 'Capabilities', event: 'CAPABLE' },
  signal: { operation: 'Signal', event: 'TASK_KILL' },
};

const OPERATION_BY_BIT: ReadonlyMap<number, Operation> = new Map(Object.entries(OPERATION_BITS).map(([name, bit]) => [bit, name as Operation]));

/** The enforcer's name of one OPERATION_BITS bit, or undefined for 0 (a `dropped` record) and unknown bits. */
export function operationName(bit: number): Operation | undefined {
  return OPERATION_BY_BIT.get(bit);
}

/** Address families by number (linux/socket.h), as KubeArmor prints them. */
const FAMILY_NAMES: readonly string[] = [
  'AF_UNSPEC', 'AF_UNIX', 'AF_INET', 'AF_AX25', 'AF_IPX', 'AF_APPLETALK', 'AF_NETROM', 'AF_BRIDGE', 'AF_ATMPVC', 'AF_X25',
  'AF_INET6', 'AF_ROSE', 'AF_DECnet', 'AF_NETBEUI', 'AF_SECURITY', 'AF_KEY', 'AF_NETLINK', 'AF_PACKET', 'AF_ASH', 'AF_ECONET',
  'AF_ATMSVC', 'AF_RDS', 'AF_SNA', 'AF_IRDA', 'AF_PPPOX', 'AF_WANPIPE', 'AF_LLC', 'AF_IB', 'AF_MPLS', 'AF_CAN',
  'AF_TIPC', 'AF_BLUETOOTH', 'AF_IUCV', 'AF_RXRPC', 'AF_ISDN', 'AF_PHONET', 'AF_IEEE802154', 'AF_CAIF', 'AF_ALG', 'AF_NFC',
  'AF_VSOCK', 'AF_KCM', 'AF_QIPCRTR', 'AF_SMC', 'AF_XDP', 'AF_MCTP',
];

/** Socket types by number (linux/net.h's enum sock_type). */
const TYPE_NAMES: Readonly<Record<number, string>> = {
  1: 'SOCK_STREAM',
  2: 'SOCK_DGRAM',
  3: 'SOCK_RAW',
  4: 'SOCK_RDM',
  5: 'SOCK_SEQPACKET',
  6: 'SOCK_DCCP',
  10: 'SOCK_PACKET',
};

/** The IP protocols KubeArmor names in a socket's resource (its getProtocol); others stay numbers. */
const PROTOCOL_NAMES: Readonly<Record<number, string>> = { 1: 'ICMP', 6: 'TCP', 17: 'UDP', 58: 'ICMPv6' };
const AF_INET = 2;
const AF_INET6 = 10;

/**
 * A socket as KubeArmor's alerts show one: `domain=AF_INET type=SOCK_RAW
 * protocol=ICMP`. An AF_INET or AF_INET6 socket's protocol is named as
 * KubeArmor names it (ICMP, TCP, UDP, ICMPv6; 0 stays 0), so that a
 * scenario's `condition: ICMP` matches; any other family's protocol is the
 * number socket(2) got (AF_PACKET's is the Ethernet type in network byte
 * order, 768 for ETH_P_ALL), where a name would mislead. Numbers without a
 * name stay numbers.
 */
export function describeSocket(family: number, type: number, protocol: number): string {
  const named = family === AF_INET || family === AF_INET6 ? PROTOCOL_NAMES[protocol] : undefined;
  return `domain=${FAMILY_NAMES[family] ?? String(family)} type=${TYPE_NAMES[type] ?? String(type)} protocol=${named ?? String(protocol)}`;
}

/** `CAP_NET_RAW` for 13 (linux/capability.h, through CAP_CHECKPOINT_RESTORE); a newer one as `CAP_<number>`. */
export function describeCapability(capability: number): string {
  return CAPABILITY_NAMES[capability] ?? `CAP_${capability}`;
}
