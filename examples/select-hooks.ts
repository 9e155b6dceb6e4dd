/**
 * Which hooks would CRI-O or podman run for a container? Loads hooks.d
 * directories (later ones override earlier ones by file name) and selects
 * the hooks for a config.json, as those runtimes do.
 *
 *   node examples/select-hooks.ts BUNDLE_DIR HOOKS_DIR [HOOKS_DIR ...]
 */
import { loadHooksDirectories, readConfig, selectHooks } from '@bulwark/oci-state';

const [bundle, ...directories] = process.argv.slice(2);
if (bundle === undefined || directories.length === 0) {
  process.stderr.write('usage: node examples/select-hooks.ts BUNDLE_DIR HOOKS_DIR [HOOKS_DIR ...]\n');
  process.exit(2);
}
const config = await readConfig(bundle);
const { hooks, errors } = await loadHooksDirectories(directories);
for (const error of errors) process.stderr.write(`skipped: ${error.message}\n`);
const selected = selectHooks(hooks, { config, annotations: config.annotations ?? {} });
for (const [stage, stageHooks] of Object.entries(selected.stages)) {
  for (const hook of stageHooks) process.stdout.write(`${stage}\t${hook.path} ${(hook.args ?? []).slice(1).join(' ')}\n`);
}
