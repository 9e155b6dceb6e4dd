/**
 * SO_PEERCRED on an accepted unix socket: who connected to the control
 * socket (the kernel's record from connect time, not anything the client
 * says). Node.js has no API for it, so libc's getsockopt is called over
 * koffi, loaded on first use (never at import). `readPeerCredentials`
 * takes the binding as a parameter, so its error paths are unit-tested
 * with a fake.
 */
import { createRequire } from 'node:module';
import type { Socket } from 'node:net';
import { endianness } from 'node:os';
import type * as Koffi from 'koffi';
import type { PeerCredentials } from '@bulwark/hook-client';

const SOL_SOCKET = 1;
const SO_PEERCRED = 17;
/** struct ucred { pid_t pid; uid_t uid; gid_t gid; } */
const UCRED_BYTES = 12;

/** The one libc call, named as in C. */
export interface PeerCredentialsBinding {
  /** Returns 0, or -1 (errno is not needed: any failure means "unknown peer"). */
  getsockopt(fd: number, level: number, name: number, value: Uint8Array, length: Uint32Array): number;
}

let cached: PeerCredentialsBinding | undefined;

/** libc's getsockopt over koffi, declared once. Throws when koffi or libc cannot be loaded. */
export function loadPeerCredentialsBinding(): PeerCredentialsBinding {
  if (cached !== undefined) return cached;
  const koffi = createRequire(import.meta.url)('koffi') as typeof Koffi;
  const libc = koffi.load(null);
  const getsockopt = libc.func('int getsockopt(int sockfd, int level, int optname, _Out_ uint8_t *optval, _Inout_ uint32_t *optlen)') as (
    fd: number,
    level: number,
    name: number,
    value: Uint8Array,
    length: Uint32Array,
  ) => number;
  cached = { getsockopt: (fd, level, name, value, length) => getsockopt(fd, level, name, value, length) };
  return cached;
}

/** The file descriptor under an accepted net.Socket (libuv's pipe handle), if it has one. */
export function socketDescriptor(socket: Socket): number | undefined {
  const handle = (socket as unknown as { _handle?: { fd?: unknown } })._handle;
  const fd = handle?.fd;
  return typeof fd === 'number' && Number.isInteger(fd) && fd >= 0 ? fd : undefined;
}

/** The peer's pid, uid and gid, or undefined when they cannot be read (then the peer is treated as unknown, never as root). */
export function readPeerCredentials(socket: Socket, binding: PeerCredentialsBinding = loadPeerCredentialsBinding()): PeerCredentials | undefined {
  const fd = socketDescriptor(socket);
  if (fd === undefined) return undefined;
  const value = new Uint8Array(UCRED_BYTES);
  const length = new Uint32Array([UCRED_BYTES]);
  if (binding.getsockopt(fd, SOL_SOCKET, SO_PEERCRED, value, length) !== 0 || length[0] !== UCRED_BYTES) return undefined;
  const view = new DataView(value.buffer);
  const little = endianness() === 'LE';
  return { pid: view.getInt32(0, little), uid: view.getUint32(4, little), gid: view.getUint32(8, little) };
}
