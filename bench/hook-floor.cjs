'use strict';
// The least any OCI hook written for Node can do, as a reference for bench/hook.ts:
// the same reads and the same request as bulwark-hook, hand-written, nothing
// validated, no deadline, no log. Not a hook to use.
const fs = require('node:fs');
const net = require('node:net');
const socketPath = process.argv[2];
const chunks = [];
const buffer = Buffer.allocUnsafe(65536);
for (;;) {
  let n;
  try { n = fs.readSync(0, buffer, 0, buffer.length, null); } catch (e) { if (e.code === 'EAGAIN') continue; throw e; }
  if (n === 0) break;
  chunks.push(Buffer.from(buffer.subarray(0, n)));
}
const state = JSON.parse(Buffer.concat(chunks).toString('utf8'));
const config = JSON.parse(fs.readFileSync(state.bundle + '/config.json', 'utf8'));
const ns = {};
for (const name of ['mnt', 'pid', 'net', 'user', 'uts', 'ipc', 'cgroup', 'time']) ns[name] = fs.readlinkSync(`/proc/${state.pid}/ns/${name}`);
const stat = fs.readFileSync(`/proc/${state.pid}/stat`, 'utf8');
const cgroup = fs.readFileSync(`/proc/${state.pid}/cgroup`, 'utf8');
const status = fs.readFileSync(`/proc/${state.pid}/status`, 'utf8');
const body = JSON.stringify({ v: 1, id: '1', type: 'container.create', container: { id: state.id, stage: 'createRuntime', status: state.status, bundle: state.bundle, pid: state.pid, names: { runtime: 'unknown' }, annotations: config.annotations ?? {}, extra: { ns, stat: stat.length, cgroup: cgroup.length, status: status.length } } });
const socket = net.connect(socketPath);
const payload = Buffer.from(body);
const head = Buffer.alloc(4); head.writeUInt32BE(payload.length);
socket.write(Buffer.concat([head, payload]));
let got = Buffer.alloc(0);
socket.on('data', (d) => { got = Buffer.concat([got, d]); if (got.length >= 4 && got.length >= 4 + got.readUInt32BE(0)) { const reply = JSON.parse(got.subarray(4).toString()); socket.destroy(); if (!reply.ok) { process.stderr.write(JSON.stringify(reply)); process.exitCode = 1; } } });
socket.on('error', (e) => { process.stderr.write(String(e)); process.exitCode = 1; });
