/**
 * Operations written as text, for `bulwark policy explain --check`:
 *
 *   read /etc/shadow
 *   write /home/user1/notes from /bin/bash as owner
 *   exec /bin/ls from /bin/dash
 *   socket tcp | socket AF_PACKET SOCK_RAW 768 from /usr/sbin/arping
 *   capability net_raw
 *
 * A protocol name stands for its first socket (tcp: AF_INET SOCK_STREAM 0).
 */
import { ValidationError } from '@bulwark/errors';
import { OPERATION_BITS } from '@bulwark/ebpf-lsm/rules';
import type { Query } from './decide.js';
import { CAPABILITY_NUMBERS, PROTOCOL_SOCKETS } from './resources.js';

const FAMILIES: Readonly<Record<string, number>> = { AF_UNIX: 1, AF_INET: 2, AF_INET6: 10, AF_PACKET: 17 };
const TYPES: Readonly<Record<string, number>> = { SOCK_STREAM: 1, SOCK_DGRAM: 2, SOCK_RAW: 3, SOCK_RDM: 4, SOCK_SEQPACKET: 5, SOCK_DCCP: 6, SOCK_PACKET: 10 };
const FILE_OPERATIONS = Object.keys(OPERATION_BITS).filter((name) => !['socket', 'capability', 'signal'].includes(name));

const SYNTAX = "expected 'OPERATION RESOURCE [from EXECUTABLE] [as owner]', e.g. 'read /etc/shadow from /bin/cat'";

export function parseQuery(text: string): Query {
  const fail = (message: string): never => {
    throw new ValidationError('query', [{ path: text, message }]);
  };
  let words = text.trim().split(/\s+/u).filter((word) => word !== '');
  let owner = false;
  if (words.length >= 2 && words.at(-2) === 'as' && words.at(-1) === 'owner') {
    owner = true;
    words = words.slice(0, -2);
  }
  let source: string | undefined;
  const from = words.indexOf('from');
  if (from >= 0) {
    if (from !== words.length - 2 || !words[from + 1]!.startsWith('/')) fail(`${SYNTAX}: 'from' takes one absolute path`);
    source = words[from + 1];
    words = words.slice(0, from);
  }
  const [operation, ...resource] = words;
  const by = source === undefined ? {} : { source };
  if (operation === undefined || resource.length === 0) return fail(SYNTAX);
  if (operation === 'socket') {
    if (resource.length === 1) {
      const shape = PROTOCOL_SOCKETS[resource[0]!.toLowerCase()]?.[0];
      if (shape === undefined) return fail(`expected a protocol (${Object.keys(PROTOCOL_SOCKETS).join(', ')}) or FAMILY TYPE PROTOCOL`);
      return { operation, family: shape.family ?? FAMILIES.AF_INET!, type: shape.type, protocol: shape.protocol ?? 0, ...by };
    }
    if (resource.length !== 3) return fail('expected socket FAMILY TYPE PROTOCOL, e.g. socket AF_INET SOCK_STREAM 0');
    const [family, type, protocol] = resource as [string, string, string];
    const number = (value: string, table: Readonly<Record<string, number>>, what: string) => {
      const found = table[value.toUpperCase()] ?? (/^\d+$/u.test(value) ? Number(value) : undefined);
      return found ?? fail(`expected a socket ${what} (${Object.keys(table).join(', ')} or a number), got ${JSON.stringify(value)}`);
    };
    const protocolNumber = /^\d+$/u.test(protocol) ? Number(protocol) : fail(`expected a protocol number, got ${JSON.stringify(protocol)}`);
    return { operation, family: number(family, FAMILIES, 'family'), type: number(type, TYPES, 'type'), protocol: protocolNumber, ...by };
  }
  if (operation === 'capability') {
    const name = resource[0]!.toLowerCase().replace(/^cap_/u, '');
    const capability = CAPABILITY_NUMBERS[name];
    if (capability === undefined || resource.length !== 1) return fail(`expected a capability name such as net_raw, got ${JSON.stringify(resource.join(' '))}`);
    return { operation, capability, ...by };
  }
  if (!FILE_OPERATIONS.includes(operation)) return fail(`expected an operation (${[...FILE_OPERATIONS, 'socket', 'capability'].join(', ')}), got ${JSON.stringify(operation)}`);
  if (resource.length !== 1 || !resource[0]!.startsWith('/')) return fail(`expected one absolute path after ${operation}`);
  return { operation: operation as Exclude<Query['operation'], 'socket' | 'capability'>, path: resource[0]!, owner, ...by };
}
