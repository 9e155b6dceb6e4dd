/**
 * Which of the enforcer's scope indexes (0 to MAX_SCOPES - 1) each cgroup
 * has: the bookkeeping an agent keeps beside its registry and persists with
 * it, so that a cgroup keeps its index across restarts. Pure data, no
 * kernel: the same calls in the same order give the same indexes, and the
 * lowest free index is always the one given out.
 */
import { ValidationError, type ValidationIssue } from '@bulwark/errors';
import { StateError } from './errors.js';
import { MAX_SCOPES } from './layout.js';

/** The largest cgroup id: the kernel's ids are u64 (a cgroup directory's inode number). */
const MAX_CGROUP_ID = (1n << 64n) - 1n;
const decimal = /^[1-9][0-9]*$/;

export interface ScopeAllocatorOptions {
  /** Indexes to hand out, 0 to capacity - 1 (1 to MAX_SCOPES; default MAX_SCOPES, 4096). */
  readonly capacity?: number;
}

/** What toJSON() gives and fromJSON() takes: cgroup ids as decimal strings, by index ascending. */
export interface ScopeAllocatorJson {
  readonly capacity: number;
  readonly scopes: readonly { readonly cgroupId: string; readonly index: number }[];
}

export class ScopeAllocator {
  readonly capacity: number;
  readonly #indexes = new Map<bigint, number>();
  /** The cgroup at each index, or undefined where it is free. */
  readonly #cgroups: (bigint | undefined)[];
  /** No index below this one is free. */
  #lowestFree = 0;

  constructor(options: ScopeAllocatorOptions = {}) {
    const capacity = options.capacity ?? MAX_SCOPES;
    const problem = capacityProblem(capacity);
    if (problem !== undefined) throw new ValidationError('scope allocator', [{ path: 'capacity', message: problem }]);
    this.capacity = capacity;
    this.#cgroups = Array.from({ length: capacity }, () => undefined);
  }

  /**
   * An allocator holding `entries` (cgroup id, index), such as the scopes
   * in force in the kernel (Enforcer.scopes()). Throws ValidationError for
   * a bad pair, a cgroup given twice or an index given to two cgroups.
   */
  static fromEntries(entries: Iterable<readonly [bigint, number]>, options: ScopeAllocatorOptions = {}): ScopeAllocator {
    const allocator = new ScopeAllocator(options);
    const issues: ValidationIssue[] = [];
    let position = 0;
    for (const [cgroupId, index] of entries) allocator.#load(issues, String(position++), cgroupId, index);
    if (issues.length > 0) throw new ValidationError('scope allocator entries', issues);
    return allocator;
  }

  /** An allocator from what toJSON() gave. Throws ValidationError naming every bad field. */
  static fromJSON(json: unknown): ScopeAllocator {
    const source = 'scope allocator json';
    if (typeof json !== 'object' || json === null || Array.isArray(json)) {
      throw new ValidationError(source, [{ path: '', message: `expected an object with capacity and scopes, got ${describe(json)}` }]);
    }
    const { capacity, scopes } = json as { capacity?: unknown; scopes?: unknown };
    const problem = capacityProblem(capacity);
    if (problem !== undefined) throw new ValidationError(source, [{ path: 'capacity', message: problem }]);
    if (!Array.isArray(scopes)) throw new ValidationError(source, [{ path: 'scopes', message: `expected an array, got ${describe(scopes)}` }]);
    const allocator = new ScopeAllocator({ capacity: capacity as number });
    const issues: ValidationIssue[] = [];
    scopes.forEach((entry: unknown, position) => {
      const path = `scopes.${position}`;
      if (typeof entry !== 'object' || entry === null) {
        issues.push({ path, message: `expected { cgroupId, index }, got ${describe(entry)}` });
        return;
      }
      const { cgroupId, index } = entry as { cgroupId?: unknown; index?: unknown };
      if (typeof cgroupId !== 'string' || !decimal.test(cgroupId) || BigInt(cgroupId) > MAX_CGROUP_ID) {
        issues.push({ path: `${path}.cgroupId`, message: `expected a decimal string from 1 to ${MAX_CGROUP_ID}, got ${describe(cgroupId)}` });
        return;
      }
      allocator.#load(issues, path, BigInt(cgroupId), index);
    });
    if (issues.length > 0) throw new ValidationError(source, issues);
    return allocator;
  }

  /** Indexes in use. */
  get size(): number {
    return this.#indexes.size;
  }

  /**
   * The index of `cgroupId`: the one it has, or else the lowest free one,
   * which is then its own. Throws StateError when every index is in use.
   */
  allocate(cgroupId: bigint): number {
    checkCgroupId('allocate scope', cgroupId);
    const known = this.#indexes.get(cgroupId);
    if (known !== undefined) return known;
    if (this.#lowestFree >= this.capacity) throw new StateError('scope allocator', `all ${this.capacity} scopes in use`);
    const index = this.#lowestFree;
    this.#assign(cgroupId, index);
    return index;
  }

  /**
   * Gives `cgroupId` exactly `index` (a pair read back from the kernel or a
   * registry). Idempotent for the same pair; throws StateError when the
   * index is another cgroup's or the cgroup has another index.
   */
  assign(cgroupId: bigint, index: number): void {
    checkCgroupId('assign scope', cgroupId);
    checkIndex('assign scope', index, this.capacity);
    const conflict = this.#conflict(cgroupId, index);
    if (conflict !== undefined) throw new StateError('assign scope', conflict);
    this.#assign(cgroupId, index);
  }

  /** Frees the index of `cgroupId`; returns it, or undefined when the cgroup had none. */
  release(cgroupId: bigint): number | undefined {
    checkCgroupId('release scope', cgroupId);
    const index = this.#indexes.get(cgroupId);
    if (index === undefined) return undefined;
    this.#indexes.delete(cgroupId);
    this.#cgroups[index] = undefined;
    if (index < this.#lowestFree) this.#lowestFree = index;
    return index;
  }

  /** The index of `cgroupId`, or undefined. */
  indexOf(cgroupId: bigint): number | undefined {
    checkCgroupId('look up scope', cgroupId);
    return this.#indexes.get(cgroupId);
  }

  /** The cgroup that has `index`, or undefined when it is free. */
  cgroupAt(index: number): bigint | undefined {
    checkIndex('look up scope', index, this.capacity);
    return this.#cgroups[index];
  }

  /** (cgroup id, index) pairs by index, ascending. */
  *entries(): Generator<[bigint, number], void, undefined> {
    for (let index = 0; index < this.capacity; index++) {
      const cgroupId = this.#cgroups[index];
      if (cgroupId !== undefined) yield [cgroupId, index];
    }
  }

  toJSON(): ScopeAllocatorJson {
    return { capacity: this.capacity, scopes: [...this.entries()].map(([cgroupId, index]) => ({ cgroupId: cgroupId.toString(), index })) };
  }

  /** Why `index` cannot be given to `cgroupId`, or undefined when it can (or already is). */
  #conflict(cgroupId: bigint, index: number): string | undefined {
    const holder = this.#cgroups[index];
    if (holder !== undefined && holder !== cgroupId) return `index ${index} is cgroup ${holder}'s, not cgroup ${cgroupId}'s`;
    const own = this.#indexes.get(cgroupId);
    if (own !== undefined && own !== index) return `cgroup ${cgroupId} has index ${own}, not ${index}`;
    return undefined;
  }

  /** Assigns a pair being loaded (fromEntries, fromJSON), or adds why it cannot be to `issues`. */
  #load(issues: ValidationIssue[], path: string, cgroupId: unknown, index: unknown): void {
    const cgroupProblem = cgroupIdProblem(cgroupId);
    const problem = cgroupProblem ?? indexProblem(index, this.capacity);
    if (problem !== undefined) {
      issues.push({ path: `${path}.${cgroupProblem === undefined ? 'index' : 'cgroupId'}`, message: problem });
      return;
    }
    const conflict = this.#conflict(cgroupId as bigint, index as number);
    if (conflict === undefined) this.#assign(cgroupId as bigint, index as number);
    else issues.push({ path, message: conflict });
  }

  #assign(cgroupId: bigint, index: number): void {
    this.#indexes.set(cgroupId, index);
    this.#cgroups[index] = cgroupId;
    while (this.#lowestFree < this.capacity && this.#cgroups[this.#lowestFree] !== undefined) this.#lowestFree++;
  }
}

function capacityProblem(value: unknown): string | undefined {
  return typeof value === 'number' && Number.isInteger(value) && value >= 1 && value <= MAX_SCOPES
    ? undefined
    : `expected an integer from 1 to ${MAX_SCOPES}, got ${describe(value)}`;
}

function cgroupIdProblem(value: unknown): string | undefined {
  return typeof value === 'bigint' && value >= 1n && value <= MAX_CGROUP_ID ? undefined : `expected a bigint from 1 to ${MAX_CGROUP_ID}, got ${describe(value)}`;
}

function indexProblem(value: unknown, capacity: number): string | undefined {
  return typeof value === 'number' && Number.isInteger(value) && value >= 0 && value < capacity
    ? undefined
    : `expected an integer from 0 to ${capacity - 1}, got ${describe(value)}`;
}

function checkCgroupId(operation: string, cgroupId: unknown): void {
  const problem = cgroupIdProblem(cgroupId);
  if (problem !== undefined) throw new ValidationError(operation, [{ path: 'cgroupId', message: problem }]);
}

function checkIndex(operation: string, index: unknown, capacity: number): void {
  const problem = indexProblem(index, capacity);
  if (problem !== undefined) throw new ValidationError(operation, [{ path: 'index', message: problem }]);
}

function describe(value: unknown): string {
  if (typeof value === 'bigint') return `${value}n`;
  if (typeof value === 'string') return JSON.stringify(value);
  if (value === null || typeof value !== 'object') return String(value);
  return Array.isArray(value) ? 'an array' : 'an object';
}
