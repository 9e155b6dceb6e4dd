/**
 * Checks a schema-valid spec against what the enforcer can take: rule
 * paths within its key, normalised, globs its matcher accepts, fromSource
 * entries that name an executable, selector expressions and regular
 * expressions that mean something. Each problem names the field (a path
 * below `spec`).
 */
import { findGlobProblem, isGlob, RULE_PATH_MAX } from '@bulwark/ebpf-lsm/rules';
import { compileRe2 } from '@bulwark/re2';
import type { PolicyKind, PolicySpec } from './schema.js';

export interface SemanticIssue {
  readonly path: readonly (string | number)[];
  readonly message: string;
}

/** The label whose value is a container-name list `[a, b]` or a regular expression. */
export const CONTAINER_NAME_LABEL = 'kubearmor.io/container.name';

/** What is wrong with an absolute rule path, or undefined. Directories end in '/'. */
export function findPathProblem(path: string): string | undefined {
  const bytes = Buffer.byteLength(path, 'utf8');
  if (bytes > RULE_PATH_MAX) return `expected at most ${RULE_PATH_MAX} bytes (the enforcer's rule key), got ${bytes}`;
  if (path.includes('\0')) return 'expected no NUL byte';
  if (!path.isWellFormed()) return 'expected well-formed unicode';
  const components = normalisePath(path).split('/');
  if (components.some((component) => component === '.' || component === '..')) {
    return `expected a path without '.' or '..' components (the kernel reports resolved paths), got ${JSON.stringify(path)}`;
  }
  return undefined;
}

/** Repeated slashes collapsed: `//etc//passwd` is `/etc/passwd`, as the kernel resolves it. */
export function normalisePath(path: string): string {
  return path.replace(/\/{2,}/gu, '/');
}

/** The container-name selector's value as a list of names, or undefined when it is a regular expression. */
export function parseNameList(value: string): string[] | undefined {
  const trimmed = value.trim();
  if (!trimmed.startsWith('[') || !trimmed.endsWith(']')) return undefined;
  return trimmed
    .slice(1, -1)
    .split(',')
    .map((name) => name.trim())
    .filter((name) => name !== '');
}

export function checkSemantics(kind: PolicyKind, spec: PolicySpec): SemanticIssue[] {
  if (kind === 'KubeArmorNetworkPolicy') return [];
  const issues: SemanticIssue[] = [];
  const push = (path: readonly (string | number)[], message: string | undefined) => {
    if (message !== undefined) issues.push({ path, message });
  };
  const checkSources = (sources: readonly { path?: string | undefined }[] | undefined, at: readonly (string | number)[]) => {
    sources?.forEach((source, index) => {
      if (source.path === undefined) push([...at, 'fromSource', index, 'path'], 'missing required field (expected the absolute path of an executable)');
      else push([...at, 'fromSource', index, 'path'], findPathProblem(source.path));
    });
  };
  for (const section of ['process', 'file'] as const) {
    const rules = spec[section];
    if (rules === undefined) continue;
    rules.matchPaths?.forEach((rule, index) => {
      const at = [section, 'matchPaths', index];
      const path = (rule as { path?: string }).path;
      const execname = (rule as { execname?: string }).execname;
      if (path === undefined && execname === undefined) push([...at, 'path'], 'missing required field (expected path or execname)');
      if (path !== undefined && execname !== undefined) push([...at, 'execname'], 'expected path or execname, not both');
      // A path with '*' or '?' is a glob to the enforcer (KubeArmor's `/root/*_history`), held to what its matcher takes.
      if (path !== undefined) push([...at, 'path'], isGlob(path) ? findGlobProblem(normalisePath(path)) : findPathProblem(path));
      if (execname !== undefined) push([...at, 'execname'], findGlobProblem(`/**/${execname}`));
      checkSources(rule.fromSource, at);
    });
    rules.matchDirectories?.forEach((rule, index) => {
      const at = [section, 'matchDirectories', index];
      push([...at, 'dir'], isGlob(rule.dir) ? findGlobProblem(normalisePath(rule.dir)) : findPathProblem(rule.dir));
      checkSources(rule.fromSource, at);
    });
    rules.matchPatterns?.forEach((rule, index) => {
      const pattern = normalisePath(rule.pattern);
      push([section, 'matchPatterns', index, 'pattern'], isGlob(pattern) ? findGlobProblem(pattern) : findPathProblem(pattern) ?? absoluteProblem(pattern));
    });
  }
  spec.network?.matchProtocols?.forEach((rule, index) => checkSources(rule.fromSource, ['network', 'matchProtocols', index]));
  spec.capabilities?.matchCapabilities?.forEach((rule, index) => checkSources(rule.fromSource, ['capabilities', 'matchCapabilities', index]));

  const selector = (spec as { selector?: { matchLabels?: Record<string, string>; matchExpressions?: { key?: string; operator?: string; values?: string[] }[] } }).selector;
  const nodeSelector = (spec as { nodeSelector?: { matchLabels?: Record<string, string> } }).nodeSelector;
  for (const [where, labels] of [
    ['selector', selector?.matchLabels],
    ['nodeSelector', nodeSelector?.matchLabels],
  ] as const) {
    const value = labels?.[CONTAINER_NAME_LABEL];
    if (value === undefined || parseNameList(value) !== undefined) continue;
    try {
      compileRe2(value, { anchored: 'full' });
    } catch (error) {
      push([where, 'matchLabels', CONTAINER_NAME_LABEL], `expected a container-name list [a, b] or an RE2 regular expression: ${error instanceof Error ? error.message : String(error)}`);
    }
  }
  selector?.matchExpressions?.forEach((expression, index) => {
    const at = ['selector', 'matchExpressions', index];
    if (expression.key === undefined) push([...at, 'key'], kind === 'KubeArmorClusterPolicy' ? "missing required field (expected 'namespace' or 'label')" : "missing required field (expected 'label')");
    if (expression.operator === undefined) push([...at, 'operator'], "missing required field (expected 'In' or 'NotIn')");
    if (expression.key === 'label') {
      expression.values?.forEach((value, valueIndex) => {
        if (!/^[^=]+=.*$/u.test(value)) push([...at, 'values', valueIndex], `expected a label as key=value, got ${JSON.stringify(value)}`);
      });
    }
  });
  return issues;
}

function absoluteProblem(path: string): string | undefined {
  return path.startsWith('/') ? undefined : `expected an absolute pattern (starting with /), got ${JSON.stringify(path)}`;
}
