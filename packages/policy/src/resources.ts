/**
 * The kernel's numbers for what policies name: capabilities (linux/
 * capability.h) and the sockets each KubeArmor protocol name stands for.
 * A socket rule takes one of the three shapes the enforcer looks up at
 * socket_create: (family, type, protocol), (family, type, any) and
 * (any, type, any).
 */
import { CAPABILITY_NAMES } from './schema.js';

/** CAP_* numbers: the CRD lists the names in the kernel's order, 0 (chown) to 33 (mac_admin). */
export const CAPABILITY_NUMBERS: Readonly<Record<string, number>> = Object.fromEntries(CAPABILITY_NAMES.map((name, index) => [name, index]));

export const AF_UNIX = 1;
export const AF_INET = 2;
export const AF_INET6 = 10;
export const AF_PACKET = 17;
export const SOCK_STREAM = 1;
export const SOCK_DGRAM = 2;
export const SOCK_RAW = 3;
export const SOCK_RDM = 4;
export const SOCK_SEQPACKET = 5;
export const SOCK_DCCP = 6;
export const SOCK_PACKET = 10;
export const IPPROTO_ICMP = 1;
export const IPPROTO_TCP = 6;
export const IPPROTO_UDP = 17;
export const IPPROTO_ICMPV6 = 58;
export const IPPROTO_SCTP = 132;

export interface SocketShape {
  readonly family?: number;
  readonly type: number;
  readonly protocol?: number;
}

const inet = (type: number, protocols: readonly number[]): SocketShape[] =>
  [AF_INET, AF_INET6].flatMap((family) => protocols.map((protocol) => ({ family, type, protocol })));

/**
 * The sockets that need CAP_NET_RAW: raw sockets of any family, and packet
 * sockets (AF_PACKET of every type, and the old SOCK_PACKET).
 */
export const RAW_SOCKETS: readonly SocketShape[] = [
  { type: SOCK_RAW },
  { type: SOCK_PACKET },
  { family: AF_PACKET, type: SOCK_DGRAM },
];

/**
 * What each protocol name covers. `tcp` and `udp` take protocol 0 too:
 * that is what socket(AF_INET, SOCK_STREAM, 0) passes the hook.
 */
export const PROTOCOL_SOCKETS: Readonly<Record<string, readonly SocketShape[]>> = {
  tcp: inet(SOCK_STREAM, [0, IPPROTO_TCP]),
  udp: inet(SOCK_DGRAM, [0, IPPROTO_UDP]),
  icmp: [
    { family: AF_INET, type: SOCK_DGRAM, protocol: IPPROTO_ICMP },
    { family: AF_INET, type: SOCK_RAW, protocol: IPPROTO_ICMP },
  ],
  icmpv6: [
    { family: AF_INET6, type: SOCK_DGRAM, protocol: IPPROTO_ICMPV6 },
    { family: AF_INET6, type: SOCK_RAW, protocol: IPPROTO_ICMPV6 },
  ],
  sctp: [...inet(SOCK_STREAM, [IPPROTO_SCTP]), ...inet(SOCK_SEQPACKET, [IPPROTO_SCTP])],
  raw: RAW_SOCKETS,
  stream: [{ type: SOCK_STREAM }],
  dgram: [{ type: SOCK_DGRAM }],
  rdm: [{ type: SOCK_RDM }],
  seqpacket: [{ type: SOCK_SEQPACKET }],
  dccp: [{ type: SOCK_DCCP }],
  packet: [{ type: SOCK_PACKET }, { family: AF_PACKET, type: SOCK_RAW }, { family: AF_PACKET, type: SOCK_DGRAM }],
  all: [SOCK_STREAM, SOCK_DGRAM, SOCK_RAW, SOCK_RDM, SOCK_SEQPACKET, SOCK_DCCP, SOCK_PACKET].map((type) => ({ type })),
};

const FAMILY_NAMES: Readonly<Record<number, string>> = { [AF_UNIX]: 'AF_UNIX', [AF_INET]: 'AF_INET', [AF_INET6]: 'AF_INET6', [AF_PACKET]: 'AF_PACKET' };
const TYPE_NAMES: Readonly<Record<number, string>> = {
  [SOCK_STREAM]: 'SOCK_STREAM',
  [SOCK_DGRAM]: 'SOCK_DGRAM',
  [SOCK_RAW]: 'SOCK_RAW',
  [SOCK_RDM]: 'SOCK_RDM',
  [SOCK_SEQPACKET]: 'SOCK_SEQPACKET',
  [SOCK_DCCP]: 'SOCK_DCCP',
  [SOCK_PACKET]: 'SOCK_PACKET',
};
const PROTOCOL_NAMES_BY_NUMBER: Readonly<Record<number, string>> = {
  0: '0',
  [IPPROTO_ICMP]: 'IPPROTO_ICMP',
  [IPPROTO_TCP]: 'IPPROTO_TCP',
  [IPPROTO_UDP]: 'IPPROTO_UDP',
  [IPPROTO_ICMPV6]: 'IPPROTO_ICMPV6',
  [IPPROTO_SCTP]: 'IPPROTO_SCTP',
};

/** A socket as text, as alerts show it: `AF_INET SOCK_STREAM 0`, `any SOCK_RAW any`. */
export function describeSocket(socket: { family?: number | undefined; type?: number | undefined; protocol?: number | undefined }): string {
  const name = (table: Readonly<Record<number, string>>, value: number | undefined) => (value === undefined ? 'any' : (table[value] ?? String(value)));
  return `${name(FAMILY_NAMES, socket.family)} ${name(TYPE_NAMES, socket.type)} ${name(PROTOCOL_NAMES_BY_NUMBER, socket.protocol)}`;
}

/** `CAP_NET_RAW` for 13. */
export function capabilityName(capability: number): string {
  const name = CAPABILITY_NAMES[capability];
  return name === undefined ? `capability ${capability}` : `CAP_${name.toUpperCase()}`;
}

/** Splits a comma-separated list as KubeArmor does: trimmed, lowercased, `cap_` dropped for capabilities. */
export function splitList(value: string, options: { capability?: boolean } = {}): string[] {
  return value
    .split(',')
    .map((item) => item.trim().toLowerCase())
    .filter((item) => item !== '')
    .map((item) => (options.capability === true && item.startsWith('cap_') ? item.slice(4) : item));
}
