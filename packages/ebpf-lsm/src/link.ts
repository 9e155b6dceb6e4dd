/**
 * An attachment of a program (struct bpf_link). It lasts until destroyed,
 * or, when pinned in a BPF file system, until the pin is removed and every
 * handle is closed: pinning is how an attachment outlives this process.
 */
import { ValidationError, addContext } from '@bulwark/errors';
import { type LibbpfBinding, type LinkPointer, createLibbpfBinding } from './binding.js';
import { callLibbpf } from './call.js';
import { StateError } from './errors.js';

export interface OpenPinnedLinkOptions {
  /** The libbpf binding to use; default the real libbpf.so.1. */
  binding?: LibbpfBinding;
}

export class Link implements Disposable {
  readonly #binding: LibbpfBinding;
  readonly #pointer: LinkPointer;
  #destroyed = false;
  /** What the link attaches, for messages: `tracepoint syscalls/sys_enter_getppid`, `pinned /sys/fs/bpf/x`. */
  readonly description: string;

  /** @internal Use Program.attach*() or Link.openPinned(). */
  constructor(binding: LibbpfBinding, pointer: LinkPointer, description: string) {
    this.#binding = binding;
    this.#pointer = pointer;
    this.description = description;
  }

  /** Opens a link pinned at `path` (in a BPF file system). Destroying the result leaves the pin in place. */
  static openPinned(path: string, options: OpenPinnedLinkOptions = {}): Link {
    const operation = 'open pinned link';
    checkPath(operation, path);
    const binding = options.binding ?? createLibbpfBinding();
    const pointer = callLibbpf(binding, operation, () => binding.openPinnedLink(path), { path });
    return new Link(binding, pointer, `pinned ${path}`);
  }

  get destroyed(): boolean {
    return this.#destroyed;
  }

  get fd(): number {
    const operation = `get fd of link ${this.description}`;
    this.#assertLive(operation);
    return callLibbpf(this.#binding, operation, () => this.#binding.linkFd(this.#pointer));
  }

  /** Where the link is pinned, if it is (by pin(), or as opened by openPinned()). */
  get pinPath(): string | undefined {
    this.#assertLive(`get pin path of link ${this.description}`);
    return this.#binding.linkPinPath(this.#pointer);
  }

  /**
   * Pins the link at `path`, which must be in a BPF file system (mount -t
   * bpf bpf /sys/fs/bpf); missing parent directories are created. The
   * attachment then outlives this handle and this process until unpinned.
   */
  pin(path: string): void {
    const operation = `pin link ${this.description}`;
    checkPath(operation, path);
    this.#assertLive(operation);
    const pinned = this.#binding.linkPinPath(this.#pointer);
    if (pinned !== undefined) throw new StateError(operation, `already pinned at ${pinned}`);
    callLibbpf(this.#binding, operation, () => this.#binding.pinLink(this.#pointer, path), { path });
  }

  /** Removes the pin. The attachment then lasts only as long as this handle. */
  unpin(): void {
    const operation = `unpin link ${this.description}`;
    this.#assertLive(operation);
    const pinned = this.#binding.linkPinPath(this.#pointer);
    if (pinned === undefined) throw new StateError(operation, 'link is not pinned');
    callLibbpf(this.#binding, operation, () => this.#binding.unpinLink(this.#pointer), { path: pinned });
  }

  /**
   * Closes the handle, which detaches the program unless the link is pinned.
   * Destroying twice does nothing.
   */
  destroy(): void {
    if (this.#destroyed) return;
    this.#destroyed = true;
    callLibbpf(this.#binding, `destroy link ${this.description}`, () => this.#binding.destroyLink(this.#pointer));
  }

  /** The same as destroy(). */
  close(): void {
    this.destroy();
  }

  [Symbol.dispose](): void {
    this.destroy();
  }

  #assertLive(operation: string): void {
    if (this.#destroyed) throw new StateError(operation, 'link is destroyed');
  }
}

function checkPath(operation: string, path: string): void {
  if (typeof path !== 'string' || path === '' || path.includes('\0')) {
    throw addContext(operation, new ValidationError('path', [{ path: '', message: 'expected a non-empty path' }]));
  }
}
