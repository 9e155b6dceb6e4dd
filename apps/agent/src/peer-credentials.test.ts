import { createConnection, createServer, type Socket } from 'node:net';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { readPeerCredentials, type PeerCredentialsBinding } from './peer-credentials.js';

/** A unix socket pair through a listening server: the accepted end, to read the peer of. */
async function withAccepted(use: (socket: Socket) => void): Promise<void> {
  const directory = await mkdtemp(join(tmpdir(), 'bulwark-peer-'));
  const path = join(directory, 'socket');
  const server = createServer();
  try {
    const accepted = new Promise<Socket>((resolve) => server.once('connection', resolve));
    await new Promise<void>((resolve) => server.listen(path, resolve));
    const client = createConnection({ path });
    const socket = await accepted;
    use(socket);
    socket.destroy();
    client.destroy();
  } finally {
    await new Promise<void>((resolve) => server.close(() => resolve()));
    await rm(directory, { recursive: true, force: true });
  }
}

describe('readPeerCredentials', () => {
  it('reads this process as the peer (SO_PEERCRED over koffi)', async () => {
    await withAccepted((socket) => {
      expect(readPeerCredentials(socket)).toEqual({ pid: process.pid, uid: process.getuid!(), gid: process.getgid!() });
    });
  });

  it('gives undefined, never root, when getsockopt fails or the socket has no descriptor', async () => {
    const failing: PeerCredentialsBinding = { getsockopt: () => -1 };
    const short: PeerCredentialsBinding = {
      getsockopt: (_fd, _level, _name, _value, length) => {
        length[0] = 4;
        return 0;
      },
    };
    await withAccepted((socket) => {
      expect(readPeerCredentials(socket, failing)).toBeUndefined();
      expect(readPeerCredentials(socket, short)).toBeUndefined();
    });
    expect(readPeerCredentials(Object.create(null) as Socket, failing)).toBeUndefined();
  });
});
