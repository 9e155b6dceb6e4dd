/**
 * Feature probes. A probe answers supported, unsupported (with what is
 * missing) or inconclusive (it failed for another reason, such as EPERM);
 * only the conclusive answers are cached, per binding, for the life of the
 * process.
 */
import { NotSupportedError } from '@bulwark/errors';
import { type LibbpfBinding, LibbpfCallError } from './binding.js';
import { errnoName } from './errno.js';
import { mapTypeName } from './map-types.js';

export type ProbeResult = { readonly supported: true } | { readonly supported: false; readonly missing: string };

export type BatchKind = 'lookup' | 'update';

const cache = new WeakMap<LibbpfBinding, Map<string, ProbeResult>>();

function cached(binding: LibbpfBinding): Map<string, ProbeResult> {
  let results = cache.get(binding);
  if (results === undefined) {
    results = new Map();
    cache.set(binding, results);
  }
  return results;
}

/** What a failed batch call says about support: unsupported, or undefined when it says nothing (inconclusive). */
export function batchRefusal(kind: BatchKind, type: number, errno: number): ProbeResult | undefined {
  const name = errnoName(errno);
  if (name === 'ENOTSUPP' || name === 'EOPNOTSUPP') {
    return { supported: false, missing: `${mapTypeName(type)} maps have no batch ${kind} in this kernel` };
  }
  return undefined;
}

/**
 * Whether the kernel can run batch `kind` on maps of `type`, asked of the
 * map behind `fd` with a batch of zero entries, which changes nothing. The
 * kernel answers ENOTSUPP for a map type without the operation and EINVAL
 * when it lacks the batch commands altogether (before Linux 5.6): both
 * conclusive. Any other failure throws the LibbpfCallError and caches
 * nothing.
 */
export function probeBatch(binding: LibbpfBinding, kind: BatchKind, type: number, fd: number): ProbeResult {
  const results = cached(binding);
  const key = `batch ${kind} ${type}`;
  const known = results.get(key);
  if (known !== undefined) return known;
  let result: ProbeResult;
  try {
    const empty = new Uint8Array(0);
    if (kind === 'lookup') binding.lookupBatch(fd, undefined, new Uint8Array(8), empty, empty, 0);
    else binding.updateBatch(fd, empty, empty, 0);
    result = { supported: true };
  } catch (error) {
    if (!(error instanceof LibbpfCallError)) throw error;
    const refusal =
      errnoName(error.errno) === 'EINVAL'
        ? ({ supported: false, missing: `the kernel has no batch map operations (BPF_MAP_${kind.toUpperCase()}_BATCH, linux 5.6)` } as const)
        : batchRefusal(kind, type, error.errno);
    if (refusal === undefined) throw error;
    result = refusal;
  }
  results.set(key, result);
  return result;
}

/** Records what a real call showed: a refusal learnt outside the probe. */
export function rememberBatch(binding: LibbpfBinding, kind: BatchKind, type: number, result: ProbeResult): void {
  cached(binding).set(`batch ${kind} ${type}`, result);
}

export function batchNotSupported(kind: BatchKind, missing: string): NotSupportedError {
  return new NotSupportedError(`batch ${kind}`, 'kernel', missing);
}
