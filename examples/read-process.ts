/**
 * What Bulwark knows about a process: namespaces (device and inode), cgroup
 * and its id, LSM label, start time, capabilities.
 *
 *   node examples/read-process.ts [PID]      (default: this process)
 */
import { capabilityNames, readProcess } from '@bulwark/procfs';

const pid = Number(process.argv[2] ?? process.pid);
const snapshot = await readProcess(pid);
const { identity } = snapshot;
process.stdout.write(`pid ${identity.pid} (${identity.comm}), started at tick ${identity.startTime}, exe ${identity.exe ?? '-'}\n`);
for (const [type, id] of Object.entries(snapshot.namespaces)) process.stdout.write(`  ${type.padEnd(6)} ns ${id.inode} on device ${id.device}\n`);
process.stdout.write(`  cgroup ${snapshot.cgroup.path} (id ${snapshot.cgroup.id ?? '-'}, ${snapshot.cgroup.layout})\n`);
process.stdout.write(`  lsm label ${snapshot.lsmLabel ?? '-'}\n`);
process.stdout.write(`  effective capabilities: ${capabilityNames(identity.capabilities.effective).join(', ') || 'none'}\n`);
