import * as z from 'zod/mini';
import { lazy } from './lazy.js';
import { uint32 } from './schema-primitives.js';

/** A user or group id range mapped into a user namespace (or an idmapped mount). */
export interface IdMapping {
  containerID: number;
  hostID: number;
  size: number;
  [key: string]: unknown;
}

export const idMappingSchema = /* @__PURE__ */ lazy(
  'id mapping',
  (): z.ZodMiniType<IdMapping> =>
    z.looseObject({
      containerID: uint32(),
      hostID: uint32(),
      size: uint32(),
    }),
);
