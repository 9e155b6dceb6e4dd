/**
 * The alert record: one JSON object per line, with KubeArmor's camelCase
 * keys where a field means what KubeArmor's does (so that what reads
 * KubeArmor's alerts reads these), and Bulwark's own under `bulwark`. A key
 * is left out when it has nothing to say, as KubeArmor leaves out an empty
 * `omitempty` field. The README's field table documents this schema, and a
 * test holds the two to the same fields.
 */
import { VERDICTS } from '@bulwark/ebpf-lsm/rules';
import { POLICY_KINDS } from '@bulwark/policy';
import * as z from 'zod';
import { ALERT_OPERATIONS } from './names.js';

const count = () => z.int().nonnegative();
const text = () => z.string().min(1);
/** A u64 as decimal text: JSON numbers lose precision above 2^53. */
const u64 = () => z.string().regex(/^(0|[1-9][0-9]*)$/, 'expected a decimal integer');

export const ALERT_ACTIONS = ['Allow', 'Audit', 'Block'] as const;
export const ALERT_RESULTS = ['Passed', 'Permission denied'] as const;
export const ALERT_TYPES = ['MatchedPolicy', 'MatchedHostPolicy', 'SystemEvent'] as const;
/** The policyName KubeArmor gives a decision of the default posture. */
export const DEFAULT_POSTURE = 'DefaultPosture';

/** Bulwark's own fields: the enforcer's decision as it reported it, and the rule's source. */
export const bulwarkFieldsSchema = z.strictObject({
  verdict: z.enum(VERDICTS),
  ruleId: count(),
  scope: count(),
  cgroupId: u64(),
  eventTimeNs: u64(),
  operation: z.optional(text()),
  comm: z.optional(text()),
  hostTid: z.optional(count()),
  dropped: z.optional(count()),
  policyKind: z.optional(z.enum(POLICY_KINDS)),
  policyNamespace: z.optional(text()),
  policyFile: z.optional(text()),
  policyLine: z.optional(z.int().positive()),
  policyColumn: z.optional(z.int().positive()),
  field: z.optional(text()),
  ruleResource: z.optional(text()),
});

export const alertSchema = z.strictObject({
  timestamp: count(),
  updatedTime: z.string().regex(/^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{6}Z$/, 'expected RFC 3339 UTC with microseconds'),
  clusterName: z.optional(text()),
  hostName: text(),
  namespaceName: z.optional(text()),
  podName: z.optional(text()),
  labels: z.optional(text()),
  containerID: z.optional(text()),
  containerName: z.optional(text()),
  containerImage: z.optional(text()),
  hostPPid: z.optional(count()),
  hostPid: z.optional(count()),
  ppid: z.optional(count()),
  pid: z.optional(count()),
  uid: z.optional(count()),
  parentProcessName: z.optional(text()),
  processName: z.optional(text()),
  policyName: z.optional(text()),
  severity: z.optional(z.string().regex(/^[0-9]+$/, 'expected a number as text')),
  tags: z.optional(text()),
  atags: z.optional(z.array(text()).min(1)),
  message: z.optional(text()),
  type: z.enum(ALERT_TYPES),
  source: z.optional(text()),
  operation: z.enum(ALERT_OPERATIONS),
  resource: z.optional(text()),
  data: z.optional(text()),
  enforcer: z.literal('BPFLSM'),
  action: z.optional(z.enum(ALERT_ACTIONS)),
  result: z.optional(z.enum(ALERT_RESULTS)),
  MaxAlertsPerSec: z.optional(count()),
  DroppingAlertsInterval: z.optional(z.number().nonnegative()),
  bulwark: bulwarkFieldsSchema,
});

export type Alert = z.infer<typeof alertSchema>;
export type BulwarkFields = z.infer<typeof bulwarkFieldsSchema>;
export type AlertAction = (typeof ALERT_ACTIONS)[number];
export type AlertResult = (typeof ALERT_RESULTS)[number];
export type AlertType = (typeof ALERT_TYPES)[number];
