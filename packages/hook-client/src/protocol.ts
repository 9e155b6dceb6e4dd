import * as z from 'zod/mini';

/**
 * Protocol v1 between the hook and the agent (see docs/protocol.md).
 * zod/mini keeps the hook's start-up cost low: the full zod build adds about
 * a fifth to a bare Node start, the mini build a few percent.
 */

export const PROTOCOL_VERSION = 1;
/** Default and hard upper bound of one frame's JSON body, in bytes. */
export const DEFAULT_MAX_FRAME_BYTES = 64 * 1024;
export const HARD_MAX_FRAME_BYTES = 1024 * 1024;
/** Bytes of the big-endian length prefix in front of every frame. */
export const FRAME_HEADER_BYTES = 4;
/** Most YAML one `policy.apply` may carry, over all its files (the control socket takes frames up to HARD_MAX_FRAME_BYTES). */
export const MAX_APPLY_BYTES = 256 * 1024;

/**
 * Schemas are built on first use, not at import: the hook loads this module on
 * every container start and needs only the reply schema.
 */
function lazy<T>(build: () => T): () => T {
  let value: T | undefined;
  return () => (value ??= build());
}

const text = (max: number) => z.string().check(z.maxLength(max));

export const NAMESPACE_TYPES = ['mnt', 'pid', 'net', 'user', 'uts', 'ipc', 'cgroup', 'time'] as const;
export type NamespaceType = (typeof NAMESPACE_TYPES)[number];

export const HOOK_STAGES = [
  'prestart',
  'createRuntime',
  'createContainer',
  'startContainer',
  'poststart',
  'poststop',
] as const;
export type HookStage = (typeof HOOK_STAGES)[number];

function buildContainerReportSchema() {
  const shortText = text(4096);
  const decimalText = z.string().check(z.regex(/^\d{1,20}$/));
  const namespaceIdSchema = z.object({
    device: z.int().check(z.nonnegative()),
    inode: z.int().check(z.nonnegative()),
  });
  return z.object({
    /** The OCI container id, as the runtime gave it. */
    id: z.string().check(z.minLength(1), z.maxLength(1024)),
    stage: z.enum(HOOK_STAGES),
    status: text(64),
    bundle: shortText,
    pid: z.optional(z.int().check(z.positive())),
    /** The container process, read from /proc at the hook's time. */
    process: z.optional(
      z.object({
        /** Clock ticks since boot (field 22 of /proc/PID/stat): pid + start time survive pid reuse. */
        startTime: decimalText,
        comm: z.optional(text(64)),
        exe: z.optional(shortText),
        uid: z.optional(z.int().check(z.nonnegative())),
        noNewPrivs: z.optional(z.boolean()),
        seccomp: z.optional(z.enum(['disabled', 'strict', 'filter'])),
        capabilitiesEffective: z.optional(decimalText),
      }),
    ),
    namespaces: z.optional(
      z.object({
        mnt: z.optional(namespaceIdSchema),
        pid: z.optional(namespaceIdSchema),
        net: z.optional(namespaceIdSchema),
        user: z.optional(namespaceIdSchema),
        uts: z.optional(namespaceIdSchema),
        ipc: z.optional(namespaceIdSchema),
        cgroup: z.optional(namespaceIdSchema),
        time: z.optional(namespaceIdSchema),
      }),
    ),
    cgroup: z.optional(z.object({ path: shortText, id: z.optional(decimalText) })),
    lsmLabel: z.optional(shortText),
    names: z.object({
      runtime: text(32),
      name: z.optional(shortText),
      podName: z.optional(shortText),
      podNamespace: z.optional(shortText),
      podUid: z.optional(shortText),
      image: z.optional(shortText),
      sandboxId: z.optional(shortText),
      containerType: z.optional(text(32)),
    }),
    annotations: z.optional(z.record(shortText, text(16 * 1024))),
    config: z.optional(
      z.object({
        args: z.optional(z.array(shortText).check(z.maxLength(256))),
        rootfs: z.optional(shortText),
        cgroupsPath: z.optional(shortText),
        apparmorProfile: z.optional(shortText),
        selinuxLabel: z.optional(shortText),
        noNewPrivileges: z.optional(z.boolean()),
      }),
    ),
  });
}

export const containerReportSchema = lazy(buildContainerReportSchema);
export type ContainerReport = z.infer<ReturnType<typeof buildContainerReportSchema>>;

function buildRequestSchema() {
  const requestId = z.string().check(z.minLength(1), z.maxLength(128));
  const containerReport = containerReportSchema();
  return z.discriminatedUnion('type', [
    z.object({ v: z.literal(PROTOCOL_VERSION), id: requestId, type: z.literal('ping') }),
    z.object({
      v: z.literal(PROTOCOL_VERSION),
      id: requestId,
      type: z.literal('container.create'),
      container: containerReport,
    }),
    z.object({
      v: z.literal(PROTOCOL_VERSION),
      id: requestId,
      type: z.literal('container.stop'),
      container: containerReport,
    }),
    z.object({ v: z.literal(PROTOCOL_VERSION), id: requestId, type: z.literal('containers.list') }),
    // Control socket only: the agent's recent alerts after a cursor (0 for all it holds), optionally filtered.
    z.object({
      v: z.literal(PROTOCOL_VERSION),
      id: requestId,
      type: z.literal('alerts.read'),
      cursor: z.int().check(z.nonnegative()),
      limit: z.optional(z.int().check(z.positive(), z.maximum(10_000))),
      containerId: z.optional(text(1024)),
      containerName: z.optional(text(4096)),
      policyName: z.optional(text(4096)),
    }),
    // Control socket only, root only: policies applied over the socket (kept in the agent's state), and the set in force.
    z.object({
      v: z.literal(PROTOCOL_VERSION),
      id: requestId,
      type: z.literal('policy.apply'),
      files: z
        .array(z.object({ source: z.string().check(z.minLength(1), z.maxLength(4096)), text: text(MAX_APPLY_BYTES) }))
        .check(z.minLength(1), z.maxLength(64)),
    }),
    z.object({
      v: z.literal(PROTOCOL_VERSION),
      id: requestId,
      type: z.literal('policy.delete'),
      name: z.string().check(z.minLength(1), z.maxLength(253)),
      namespace: z.optional(text(253)),
      kind: z.optional(text(64)),
    }),
    z.object({ v: z.literal(PROTOCOL_VERSION), id: requestId, type: z.literal('policy.list') }),
  ]);
}

export const requestSchema = lazy(buildRequestSchema);
export type Request = z.infer<ReturnType<typeof buildRequestSchema>>;
export type RequestType = Request['type'];
/** A request without the envelope fields the client fills in. */
export type RequestBody = Request extends infer R ? (R extends Request ? Omit<R, 'v' | 'id'> : never) : never;

export const REPLY_ERROR_CODES = ['bad-request', 'unsupported-version', 'frame-too-large', 'refused', 'internal', 'busy'] as const;
export type ReplyErrorCode = (typeof REPLY_ERROR_CODES)[number];

function buildReplySchema() {
  return z.union([
    z.object({ v: z.literal(PROTOCOL_VERSION), id: z.string(), ok: z.literal(true), result: z.optional(z.unknown()) }),
    z.object({
      v: z.literal(PROTOCOL_VERSION),
      id: z.string(),
      ok: z.literal(false),
      error: z.object({ code: z.enum(REPLY_ERROR_CODES), reason: text(4096) }),
    }),
  ]);
}

export const replySchema = lazy(buildReplySchema);
export type Reply = z.infer<ReturnType<typeof buildReplySchema>>;

/** Summarises zod issues as `path: message; ...` for a one-line reason. */
export function describeIssues(error: { issues: readonly { path: readonly PropertyKey[]; message: string }[] }): string {
  return error.issues
    .slice(0, 5)
    .map((issue) => (issue.path.length > 0 ? `${issue.path.map(String).join('.')}: ${issue.message}` : issue.message))
    .join('; ');
}

/** The longest path a unix socket address holds (sun_path is 108 bytes with its terminating NUL). */
export const MAX_SOCKET_PATH_BYTES = 107;

/**
 * Checks a socket path's length before the kernel does (it says only
 * "invalid argument"): undefined when it fits, or the problem in words.
 */
export function socketPathProblem(socketPath: string): string | undefined {
  const bytes = Buffer.byteLength(socketPath, 'utf8');
  return bytes <= MAX_SOCKET_PATH_BYTES ? undefined : `the path is ${bytes} bytes, and a unix socket path holds at most ${MAX_SOCKET_PATH_BYTES}; choose a shorter one`;
}
