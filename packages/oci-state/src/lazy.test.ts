import { readFileSync } from 'node:fs';
import { beforeEach, describe, expect, it, vi } from 'vitest';
import { lazy } from './lazy.js';

/** A fresh copy of the package and of its record of built schemas, as a new process would have. */
async function freshPackage() {
  vi.resetModules();
  const ociState = await import('./index.js');
  const { builtSchemas } = await import('./lazy.js');
  return { ociState, builtSchemas };
}

const fixture = (name: string) => readFileSync(new URL(`__fixtures__/${name}`, import.meta.url), 'utf8');

/** Schemas only parseConfig, parseFeatures or parseHookFile need. */
const fullConfigSchemas = ['runtime config', 'process', 'mount', 'hooks', 'hook', 'linux', 'seccomp', 'linux resources', 'windows', 'vm'];

describe('lazy', () => {
  it('builds once, on first use', () => {
    const build = vi.fn(() => ({ built: true }));
    const value = lazy('test value', build);
    expect(build).not.toHaveBeenCalled();
    const first = value();
    expect(value()).toBe(first);
    expect(build).toHaveBeenCalledTimes(1);
  });
});

describe('schema construction', () => {
  beforeEach(() => {
    vi.resetModules();
  });

  it('builds nothing when the package is imported', async () => {
    const { builtSchemas } = await freshPackage();
    expect(builtSchemas()).toEqual([]);
  });

  it('builds only the state schema for parseState and identifyContainer', async () => {
    const { ociState, builtSchemas } = await freshPackage();
    const state = ociState.parseState(fixture('runc.state.json'));
    ociState.identifyContainer(state.annotations);
    expect(builtSchemas()).toEqual(['state', 'parse options']);
  });

  it('builds the summary schema, and none of the full config schema, for parseConfigSummary', async () => {
    const { ociState, builtSchemas } = await freshPackage();
    ociState.parseConfigSummary(fixture('podman-run.config.json'));
    expect([...builtSchemas()].sort()).toEqual(['capabilities', 'config summary', 'namespace', 'parse options', 'root']);
  });

  it('builds each schema once however often it parses', async () => {
    const { ociState, builtSchemas } = await freshPackage();
    const text = fixture('podman-run.config.json');
    ociState.parseConfig(text);
    const afterFirst = builtSchemas();
    expect(afterFirst).toEqual(expect.arrayContaining(fullConfigSchemas));
    ociState.parseConfig(text);
    ociState.parseConfigSummary(text);
    ociState.parseConfigSummary(text);
    expect(new Set(builtSchemas()).size).toBe(builtSchemas().length);
    expect(builtSchemas()).toEqual([...afterFirst, 'config summary']);
  });
});
