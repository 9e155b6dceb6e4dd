/**
 * The far end of the scenarios' network commands, run inside the scenario
 * network namespace (scenarios.ts starts it with `unshare --net`, so it
 * only ever sees loopback): an HTTP server on port 80 of every local
 * address and a DNS server on 127.0.0.1:53 that answers every A query with
 * 127.0.0.1 (and every other query with no answer). `curl google.com`
 * inside a container then resolves over UDP and gets an HTTP reply, and
 * nothing leaves the namespace. Plain Node, no imports beyond node:, so
 * that it runs as `node scenario-network-server.ts` anywhere.
 *
 * Prints `listening` on stdout once both servers are up.
 */
import { createSocket } from 'node:dgram';
import { createServer } from 'node:http';

const BODY = '<html><body>bulwark scenario server</body></html>\n';

const http = createServer((request, response) => {
  response.writeHead(200, { 'content-type': 'text/html', 'content-length': Buffer.byteLength(BODY), connection: 'close' });
  response.end(request.method === 'HEAD' ? undefined : BODY);
});

/** A reply to one DNS query: the question copied, and for an IN A question one answer, 127.0.0.1. */
function answerQuery(query: Buffer): Buffer | undefined {
  if (query.length < 12) return undefined;
  const questions = query.readUInt16BE(4);
  if (questions !== 1) return undefined;
  let offset = 12;
  while (offset < query.length && query[offset] !== 0) offset += query[offset]! + 1;
  offset += 1;
  if (offset + 4 > query.length) return undefined;
  const type = query.readUInt16BE(offset);
  const klass = query.readUInt16BE(offset + 2);
  const question = query.subarray(12, offset + 4);
  const answers = type === 1 && klass === 1 ? 1 : 0;
  const header = Buffer.alloc(12);
  header.writeUInt16BE(query.readUInt16BE(0), 0); // id
  header.writeUInt16BE(0x8180 | (query.readUInt16BE(2) & 0x0100), 2); // response, recursion available, RD copied, NOERROR
  header.writeUInt16BE(1, 4);
  header.writeUInt16BE(answers, 6);
  const answer = Buffer.from([0xc0, 0x0c, 0, 1, 0, 1, 0, 0, 0, 60, 0, 4, 127, 0, 0, 1]);
  return Buffer.concat(answers === 1 ? [header, question, answer] : [header, question]);
}

const dns = createSocket('udp4');
dns.on('message', (message, remote) => {
  const reply = answerQuery(message);
  if (reply !== undefined) dns.send(reply, remote.port, remote.address);
});

let ready = 0;
const up = () => {
  if (++ready === 2) process.stdout.write('listening\n');
};
http.listen(80, '0.0.0.0', up);
dns.bind(53, '127.0.0.1', up);
process.on('SIGTERM', () => process.exit(0));
