/**
 * Names and descriptions of the error numbers libbpf returns: the kernel's
 * errno values, the kernel-internal ones that leak out of bpf(2) (ENOTSUPP),
 * and libbpf's own `enum libbpf_errno`. Pure data; the mapping to errors is
 * in errors.ts.
 */
import { constants } from 'node:os';

const extraNames: Readonly<Record<number, string>> = {
  // Kernel-internal, but bpf(2) returns it for features a kernel lacks.
  524: 'ENOTSUPP',
  4000: 'LIBBPF_ERRNO__LIBELF',
  4001: 'LIBBPF_ERRNO__FORMAT',
  4002: 'LIBBPF_ERRNO__KVERSION',
  4003: 'LIBBPF_ERRNO__ENDIAN',
  4004: 'LIBBPF_ERRNO__INTERNAL',
  4005: 'LIBBPF_ERRNO__RELOC',
  4006: 'LIBBPF_ERRNO__LOAD',
  4007: 'LIBBPF_ERRNO__VERIFY',
  4008: 'LIBBPF_ERRNO__PROG2BIG',
  4009: 'LIBBPF_ERRNO__KVER',
  4010: 'LIBBPF_ERRNO__PROGTYPE',
  4011: 'LIBBPF_ERRNO__WRNGPID',
  4012: 'LIBBPF_ERRNO__INVSEQ',
  4013: 'LIBBPF_ERRNO__NLPARSE',
};

/** What the errno names outside libc's set mean, as `describeErrno` would put it. */
export const extraDescriptions: Readonly<Record<string, string>> = {
  EUNKNOWN: 'failed without an error number',
  ENOTSUPP: 'operation not supported by the kernel',
  E2BIG: 'argument list too long',
  EFAULT: 'bad address',
  EBADF: 'bad file descriptor',
  EOPNOTSUPP: 'operation not supported',
  ENOTSUP: 'operation not supported',
  LIBBPF_ERRNO__LIBELF: 'libelf error',
  LIBBPF_ERRNO__FORMAT: 'not a valid bpf object file',
  LIBBPF_ERRNO__KVERSION: "incorrect or missing 'version' section",
  LIBBPF_ERRNO__ENDIAN: 'object file has the wrong byte order',
  LIBBPF_ERRNO__INTERNAL: 'internal error in libbpf',
  LIBBPF_ERRNO__RELOC: 'relocation failed',
  LIBBPF_ERRNO__LOAD: 'program load failed',
  LIBBPF_ERRNO__VERIFY: 'rejected by the verifier',
  LIBBPF_ERRNO__PROG2BIG: 'program too big',
  LIBBPF_ERRNO__KVER: 'incorrect kernel version',
  LIBBPF_ERRNO__PROGTYPE: 'program type not supported by the kernel',
  LIBBPF_ERRNO__WRNGPID: 'wrong pid in netlink message',
  LIBBPF_ERRNO__INVSEQ: 'invalid netlink sequence',
  LIBBPF_ERRNO__NLPARSE: 'netlink parsing error',
};

let names: Map<number, string> | undefined;

/** The symbolic name of a positive error number: 1 -> 'EPERM', 4001 -> 'LIBBPF_ERRNO__FORMAT'. */
export function errnoName(errno: number): string {
  if (names === undefined) {
    names = new Map();
    // EAGAIN before EWOULDBLOCK; EOPNOTSUPP is what the kernel headers call 95.
    for (const [name, value] of Object.entries(constants.errno as Record<string, number>)) {
      if (name === 'ENOTSUP' || name === 'EWOULDBLOCK') continue;
      if (!names.has(value)) names.set(value, name);
    }
    for (const [value, name] of Object.entries(extraNames)) names.set(Number(value), name);
  }
  return names.get(Math.abs(errno)) ?? (errno === 0 ? 'EUNKNOWN' : `E${Math.abs(errno)}`);
}

/** glibc's strerror() text for the errors libbpf most often prints, to find the line that explains one. */
export const cErrorText: Readonly<Record<string, string>> = {
  EPERM: 'Operation not permitted',
  ENOENT: 'No such file or directory',
  E2BIG: 'Argument list too long',
  EBADF: 'Bad file descriptor',
  ENOMEM: 'Cannot allocate memory',
  EACCES: 'Permission denied',
  EFAULT: 'Bad address',
  EBUSY: 'Device or resource busy',
  EEXIST: 'File exists',
  EINVAL: 'Invalid argument',
  ENOSPC: 'No space left on device',
  EOPNOTSUPP: 'Operation not supported',
  ENOTSUPP: 'Unknown error 524',
};
