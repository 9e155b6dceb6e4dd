import { defineConfig } from 'vitest/config';

// Tiers: `unit` runs anywhere; `host` needs root and real container runtimes
// (runc, crun, podman); `kernel` runs inside the project's BPF-LSM guest
// (tools/kernel-vm/test-kernel.sh), where the repository is read-only. Workspace packages resolve to their sources through
// the `@bulwark/source` export condition, so tests never wait for a build.
const resolve = { conditions: ['@bulwark/source'] };
// Tests run in Vite's server-side mode, which has its own resolve conditions.
const ssr = { resolve: { conditions: ['@bulwark/source'], externalConditions: ['@bulwark/source'] } };
const include = ['packages/*/src/**/*.test.ts', 'apps/*/src/**/*.test.ts', 'bench/**/*.test.ts', 'scripts/**/*.test.ts'];

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
          include: ['packages/*/src/**/*.host.test.ts', 'apps/*/src/**/*.host.test.ts', 'scripts/**/*.host.test.ts', 'test-support/**/*.host.test.ts'],
          testTimeout: 120_000,
          hookTimeout: 120_000,
          fileParallelism: false,
        },
      },
      {
        resolve,
        ssr,
        test: {
          name: 'kernel',
          include: ['packages/*/src/**/*.kernel.test.ts', 'apps/*/src/**/*.kernel.test.ts'],
          // TCG runs JavaScript 100 to 200 times slower than the host.
          testTimeout: 300_000,
          hookTimeout: 300_000,
          fileParallelism: false,
        },
      },
    ],
  },
});
