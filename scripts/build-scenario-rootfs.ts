/**
 * Builds the KubeArmor scenario workload's root file system
 * (test-support/scenarios.ts) into .cache/scenario-rootfs/<key>.tar, where
 * the key hashes what it is made of; quick when the current one is there.
 * tools/kernel-vm/test-kernel.sh runs it before booting the guest (whose root
 * is read-only), so the kernel tier unpacks it instead of building it.
 * Needs root (user1 owns /home/user1), cc, busybox, ldd and the host
 * programs the workload copies.
 *
 *   node scripts/build-scenario-rootfs.ts
 */
import { buildCachedScenarioRootfs } from '../test-support/scenarios.ts';

const started = performance.now();
const { archive, built } = await buildCachedScenarioRootfs();
process.stderr.write(`scenario rootfs: ${built ? 'built' : 'up to date'}: ${archive} (${Math.round(performance.now() - started)} ms)\n`);
