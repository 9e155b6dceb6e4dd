import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join, posix } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { describe, expect, it } from 'vitest';
import { sourceNodeArguments } from '../test-support/source-node.ts';

// The workspace resolves its packages to their TypeScript sources through one
// export condition. Its targets (src/) are not published, so its name is the
// project's own: a consumer that sets a common name such as `source` must not
// be sent to a file the package does not ship (ERR_MODULE_NOT_FOUND).
const sourceCondition = '@bulwark/source';

const root = fileURLToPath(new URL('..', import.meta.url));

interface Manifest {
  name: string;
  private?: boolean;
  exports?: unknown;
  main?: string;
  module?: string;
  types?: string;
  bin?: string | Record<string, string>;
  files?: string[];
}

interface Workspace {
  directory: string;
  manifest: Manifest;
}

function readWorkspaces(): Workspace[] {
  const workspaces: Workspace[] = [];
  for (const group of ['packages', 'apps']) {
    for (const entry of readdirSync(join(root, group), { withFileTypes: true })) {
      const file = join(root, group, entry.name, 'package.json');
      if (!entry.isDirectory() || !existsSync(file)) continue;
      workspaces.push({ directory: `${group}/${entry.name}`, manifest: JSON.parse(readFileSync(file, 'utf8')) as Manifest });
    }
  }
  return workspaces;
}

/** One file an entry point leads to, with the field and conditions that lead there. */
interface Target {
  /** Where in package.json: `exports["./rules"].@bulwark/source`, `bin.bulwark`. */
  where: string;
  conditions: readonly string[];
  path: string;
}

/** Every target of an `exports` value: a path, an array of fallbacks, or an object of subpaths or conditions. */
function exportTargets(value: unknown, where: string, conditions: readonly string[]): Target[] {
  if (value === null) return [];
  if (typeof value === 'string') return [{ where, conditions, path: value }];
  if (Array.isArray(value)) return value.flatMap((item, index) => exportTargets(item, `${where}[${index}]`, conditions));
  if (typeof value !== 'object') throw new Error(`${where}: expected a path, an array or an object, got ${typeof value}`);
  return Object.entries(value).flatMap(([key, item]) =>
    key.startsWith('.')
      ? exportTargets(item, `${where}[${JSON.stringify(key)}]`, conditions)
      : exportTargets(item, `${where}.${key}`, [...conditions, key]),
  );
}

function manifestTargets(manifest: Manifest): Target[] {
  const targets = manifest.exports === undefined ? [] : exportTargets(manifest.exports, 'exports', []);
  for (const field of ['main', 'module', 'types'] as const) {
    const path = manifest[field];
    if (path !== undefined) targets.push({ where: field, conditions: [], path });
  }
  const bin = typeof manifest.bin === 'string' ? { [manifest.name]: manifest.bin } : (manifest.bin ?? {});
  for (const [name, path] of Object.entries(bin)) targets.push({ where: `bin.${name}`, conditions: [], path });
  return targets;
}

/**
 * Whether npm packs `path` given these `files` entries. Only plain names are
 * understood (a directory or a file); patterns would need npm's own matcher,
 * so a manifest with one fails here until this check learns them.
 */
function isPacked(path: string, files: readonly string[]): boolean {
  const normalised = posix.normalize(path);
  if (normalised === 'package.json') return true;
  if (normalised.startsWith('../') || normalised.startsWith('/')) return false;
  return files.some((entry) => {
    if (/[*?!{[]/u.test(entry)) throw new Error(`files entry ${JSON.stringify(entry)} is a pattern, which this check does not understand`);
    const name = posix.normalize(entry).replace(/\/$/u, '');
    return normalised === name || normalised.startsWith(`${name}/`);
  });
}

describe('workspace package manifests', () => {
  const workspaces = readWorkspaces();

  it('finds every workspace package', () => {
    expect(workspaces.map((workspace) => workspace.directory)).toEqual(expect.arrayContaining(['packages/oci-state', 'packages/errors', 'apps/agent', 'apps/hook']));
  });

  it('send a consumer only to files the package ships: every target outside `files` is behind the project-scoped condition', () => {
    const unpacked: string[] = [];
    for (const { directory, manifest } of workspaces) {
      const files = manifest.files ?? [];
      for (const target of manifestTargets(manifest)) {
        if (target.conditions.includes(sourceCondition)) continue;
        if (!isPacked(target.path, files)) {
          unpacked.push(`${directory}/package.json ${target.where}: ${target.path} is not in files (${files.join(', ')})`);
        }
      }
    }
    expect(unpacked).toEqual([]);
  });

  it(`put ${sourceCondition} first in each entry it is in, and point it at a source file that exists`, () => {
    const problems: string[] = [];
    const visit = (value: unknown, where: string, directory: string): void => {
      if (value === null || typeof value !== 'object' || Array.isArray(value)) return;
      const keys = Object.keys(value);
      if (keys.includes(sourceCondition)) {
        // Conditions are tried in the order written: after `types` or `default` it would never be reached.
        if (keys[0] !== sourceCondition) problems.push(`${directory}/package.json ${where}: ${sourceCondition} is not the first condition (${keys.join(', ')})`);
        const target = (value as Record<string, unknown>)[sourceCondition];
        if (typeof target !== 'string' || !existsSync(join(root, directory, target))) {
          problems.push(`${directory}/package.json ${where}.${sourceCondition}: ${String(target)} does not exist`);
        }
      }
      for (const [key, item] of Object.entries(value)) visit(item, `${where}[${JSON.stringify(key)}]`, directory);
    };
    for (const { directory, manifest } of workspaces) visit(manifest.exports, 'exports', directory);
    expect(problems).toEqual([]);
    // The check above looked at something: every library package has the condition.
    const libraries = workspaces.filter((workspace) => workspace.manifest.private !== true);
    expect(libraries.length).toBeGreaterThan(0);
    for (const { directory, manifest } of libraries) {
      expect(exportTargets(manifest.exports, 'exports', []).some((target) => target.conditions[0] === sourceCondition), directory).toBe(true);
    }
  });
});

describe(`every tool that reads the workspace's sources sets ${sourceCondition}`, () => {
  // Were one of them left on another name, it would resolve the `types` or
  // `default` target instead: dist/, built or stale, without a word.

  it('tsconfig.base.json (customConditions)', () => {
    const config = JSON.parse(readFileSync(join(root, 'tsconfig.base.json'), 'utf8')) as { compilerOptions: { customConditions?: string[] } };
    expect(config.compilerOptions.customConditions).toEqual([sourceCondition]);
  });

  it('vitest.config.ts (resolve and ssr conditions of every tier)', async () => {
    const { default: config } = (await import('../vitest.config.ts')) as {
      default: { test?: { projects?: { test?: { name?: string }; resolve?: { conditions?: string[] }; ssr?: { resolve?: { conditions?: string[]; externalConditions?: string[] } } }[] } };
    };
    const projects = config.test?.projects ?? [];
    expect(projects.map((project) => project.test?.name)).toEqual(['unit', 'host', 'kernel']);
    for (const project of projects) {
      expect(project.resolve?.conditions, project.test?.name).toEqual([sourceCondition]);
      expect(project.ssr?.resolve?.conditions, project.test?.name).toEqual([sourceCondition]);
      expect(project.ssr?.resolve?.externalConditions, project.test?.name).toEqual([sourceCondition]);
    }
  });

  // The apps bundle the workspace packages; the packages' own builds leave them external.
  it.each(['apps/agent', 'apps/hook'])('%s/tsup.config.ts (esbuild conditions)', async (app) => {
    const { default: config } = (await import(/* @vite-ignore */ pathToFileURL(join(root, app, 'tsup.config.ts')).href)) as { default: { esbuildOptions?: (options: { conditions?: string[] }, context: { format: string }) => void } };
    const options: { conditions?: string[] } = {};
    config.esbuildOptions?.(options, { format: 'esm' });
    expect(options.conditions).toEqual([sourceCondition]);
  });

  it('test-support/source-node.ts (child processes that run the sources)', () => {
    expect(sourceNodeArguments).toContain(`--conditions=${sourceCondition}`);
    expect(sourceNodeArguments.filter((argument) => argument.startsWith('--conditions'))).toHaveLength(1);
  });
});
