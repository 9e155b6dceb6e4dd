/**
 * @bulwark/alerts: the enforcer's events as KubeArmor-shaped alert records.
 * The schema (`alertSchema`, the README's field table), `createAlert` and
 * the in-memory `AlertBuffer`. Pure: no I/O, no native code; the sinks
 * (files, stdout) are `@bulwark/alerts/sinks`.
 */
export {
  ALERT_ACTIONS,
  ALERT_RESULTS,
  ALERT_TYPES,
  DEFAULT_POSTURE,
  alertSchema,
  bulwarkFieldsSchema,
  type Alert,
  type AlertAction,
  type AlertResult,
  type AlertType,
  type BulwarkFields,
} from './schema.js';
export { createAlert, type AlertContext, type ProcessDetails } from './create.js';
export { ALERT_OPERATIONS, OPERATION_NAMES, describeCapability, describeSocket, type AlertOperation } from './names.js';
export { AlertBuffer, type AlertBufferOptions, type AlertFilter, type AlertPage, type SequencedAlert } from './buffer.js';
