import { defineConfig } from 'vitest/config';

// Tiers: `unit` runs anywhere; `host` needs root and real container runtimes
// (runc, crun, podman). Workspace packages resolve to their sources through
// the `source` export condition, so tests never wait for a build.
const resolve = { conditions: ['source'] };
// Tests run in Vite's server-side mode, which has its own resolve conditions.
const ssr = { resolve: { conditions: ['source'], externalConditions: ['source'] } };
const include = ['packages/*/src/**/*.test.ts', 'apps/*/src/**/*.test.ts', 'bench/**/*.test.ts'];

export default defineConfig({
  test: {
    projects: [
      {
        resolve,
        ssr,
        test: {
          name: 'unit',
          include,
          exclude: ['**/*.host.test.ts', '**/*.kernel.test.ts', '**/node_modules/**'],
        },
      },
      {
        resolve,
        ssr,
        test: {
          name: 'host',
          include: ['packages/*/src/**/*.host.test.ts', 'apps/*/src/**/*.host.test.ts'],
          testTimeout: 120_000,
          hookTimeout: 120_000,
          fileParallelism: false,
        },
      },
    ],
  },
});
