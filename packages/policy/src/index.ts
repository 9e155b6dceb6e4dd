/**
 * @bulwark/policy: KubeArmor-compatible policies, parsed and validated to the
 * line, selected by workload, compiled to the BPF LSM enforcer's rules, and
 * explained. Pure: importing it touches nothing, and only loadPolicies reads
 * files.
 */
export { parsePolicies, type ParseOptions, type ParseResult, type Policy, type Position } from './parse.js';
export { loadPolicies, findDuplicates, dropDuplicates, type LoadResult } from './load.js';
export {
  API_VERSION,
  POLICY_KINDS,
  ACTIONS,
  CAPABILITY_NAMES,
  PROTOCOL_NAMES,
  CRD_RELAXATIONS,
  policyDocumentSchemas,
  type PolicyKind,
  type PolicyAction,
  type PolicySpec,
  type KubeArmorPolicyDocument,
  type KubeArmorHostPolicyDocument,
  type KubeArmorClusterPolicyDocument,
  type KubeArmorNetworkPolicyDocument,
} from './schema.js';
export { CONTAINER_NAME_LABEL, findPathProblem, normalisePath } from './semantic.js';
export { workloadFromReport, hostWorkload, parseLabelList, selectPolicies, matchPolicy, comparePolicies, type Workload } from './select.js';
export {
  compilePolicies,
  compileSelected,
  encodeCompiled,
  enforcerPostures,
  rootAliases,
  ROOT_ALIAS_NAMES,
  EVASION_CAPABILITIES,
  type RootAlias,
  type CompileOptions,
  type CompiledPolicySet,
  type CompiledRule,
  type RuleOrigin,
  type NotEnforced,
  type PostureSetting,
  type Section,
} from './compile.js';
export { decide, type Decision, type Query, type FileOperation } from './decide.js';
export {
  explain,
  formatExplanation,
  describeDecision,
  describeQuery,
  describeRule,
  type Explanation,
  type ExplainedRule,
  type ExplainedCategory,
  type ExplainedDecision,
} from './explain.js';
export { CAPABILITY_NUMBERS, PROTOCOL_SOCKETS, RAW_SOCKETS, describeSocket, capabilityName } from './resources.js';
export { parseQuery } from './query.js';
