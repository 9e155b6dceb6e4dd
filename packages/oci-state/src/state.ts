/**
 * The OCI runtime state: what a runtime writes to a hook's stdin and prints
 * for `runc state`.
 */

import * as z from 'zod/mini';
import { lazy } from './lazy.js';
import { parseDocument } from './parse-document.js';
import { absolutePath, integer, oneOf, optional, stringMap } from './schema-primitives.js';

/**
 * The runtime-spec statuses, plus `paused`, which runc and crun report for a
 * frozen container although the spec does not list it.
 */
export const containerStatuses = ['creating', 'created', 'running', 'stopped', 'paused'] as const;
export type ContainerStatus = (typeof containerStatuses)[number];

export interface ContainerState {
  ociVersion: string;
  id: string;
  status: ContainerStatus;
  /**
   * The container's init process as seen from the host; always positive.
   * Absent once the container has stopped (`runc state` prints 0 then; that
   * 0 is dropped here so nobody signals process group 0 by mistake).
   */
  pid?: number;
  /** Absolute path of the bundle directory, where config.json lives. */
  bundle: string;
  annotations?: Record<string, string>;
  [key: string]: unknown;
}

const stateSchema = /* @__PURE__ */ lazy('state', () =>
  z.pipe(
    z
      .looseObject({
        ociVersion: z.string(),
        id: z.string().check(z.minLength(1, { error: 'expected a non-empty container id' })),
        status: oneOf(containerStatuses),
        pid: optional(integer(0, 2 ** 31 - 1)),
        bundle: absolutePath('bundle'),
        annotations: optional(stringMap()),
      })
      .check((context) => {
        const state = context.value;
        if (state.pid === 0 && state.status !== 'stopped') {
          context.issues.push({
            code: 'custom',
            input: state.pid,
            path: ['pid'],
            message: 'expected a positive process id (0 only for a stopped container)',
          });
        }
      }),
    z.transform((state): ContainerState => {
      if (state.pid !== 0) return state;
      const result = { ...state };
      delete result.pid;
      return result;
    }),
  ),
);

/** Parses the OCI state JSON a hook reads on stdin. Throws ValidationError (with lines). */
export function parseState(text: string, source = 'state'): ContainerState {
  return parseDocument(stateSchema(), text, source);
}
