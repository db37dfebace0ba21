// A backend host for data plane e2e tests, run inside a backend namespace:
//   node backend.js NAME
// HTTP on :8080 answers "NAME <client address as seen>", TCP :9000 echoes lines as "NAME <line>",
// UDP :5353 echoes datagrams as "NAME <payload>". Prints "ready" once all three listen.
import { createServer } from 'node:http';
import { createServer as createTcpServer } from 'node:net';
import { createSocket } from 'node:dgram';
import { createInterface } from 'node:readline';

const name = process.argv[2] ?? 'backend';
const unmap = (a: string | undefined) => (a ?? '').replace(/^::ffff:/, '');

let pending = 3;
const up = () => {
  if (--pending === 0) process.stdout.write('ready\n');
};

createServer((req, res) => {
  res.setHeader('connection', 'close');
  res.end(`${name} ${unmap(req.socket.remoteAddress)}`);
}).listen(8080, '::', up);

createTcpServer((sock) => {
  sock.on('error', () => undefined);
  createInterface({ input: sock }).on('line', (line) => sock.write(`${name} ${line}\n`));
}).listen(9000, '::', up);

const udp = createSocket({ type: 'udp6', ipv6Only: false });
udp.on('message', (msg, rinfo) => udp.send(`${name} ${msg.toString()}`, rinfo.port, rinfo.address));
udp.bind(5353, '::', up);
