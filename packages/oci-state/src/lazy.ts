/**
 * Schemas here are built on first use, not when a module is evaluated:
 * building the whole config.json schema (every platform section) costs a
 * short-lived process such as an OCI hook milliseconds it may never need,
 * and a bundler cannot drop a top-level `z.looseObject(...)` it cannot
 * prove pure. Each `lazy(...)` at the top level is marked `@__PURE__`, so
 * the bundler drops the ones nothing uses.
 */

const built: string[] = [];

/**
 * Memoises `build`: the first call builds the value, later calls return it.
 * `name` is recorded when it is built, so tests can check what a code path
 * constructs (see builtSchemas).
 */
export function lazy<T>(name: string, build: () => T): () => T {
  let value: { readonly current: T } | undefined;
  return () => {
    if (value === undefined) {
      value = { current: build() };
      built.push(name);
    }
    return value.current;
  };
}

/** The names of the lazy values built so far in this process, in order. For tests. */
export function builtSchemas(): readonly string[] {
  return [...built];
}
