/** An object type whose members that may be undefined become optional ones (for exactOptionalPropertyTypes). */
export type Compact<T> = { [K in keyof T as undefined extends T[K] ? never : K]: T[K] } & {
  [K in keyof T as undefined extends T[K] ? K : never]?: Exclude<T[K], undefined>;
};

/** The object without its undefined members, so that optional fields are absent rather than undefined. */
export function compact<T extends object>(value: T): Compact<T> {
  // A plain loop: this runs once per compiled rule, and entries/fromEntries cost several times more.
  const result: Record<string, unknown> = {};
  for (const key in value) {
    const field = value[key];
    if (field !== undefined) result[key] = field;
  }
  return result as Compact<T>;
}
