// Client side of the data plane e2e tests, run inside the client namespace. Bounded everywhere.
//   node client.js http URL COUNT [FROM]            → {"replies":[...],"errors":N} (one new connection each)
//   node client.js udp HOST PORT COUNT [FROM [SPORT]] → same, one new socket (source port) per datagram
//   node client.js hold HOST PORT [FROM]            → long-lived TCP: each stdin line is sent, each reply
//                                                     printed; "closed"/"error ..." when the connection ends
// FROM: local source address ('' = the kernel's choice); SPORT: fixed UDP source port.
import { request } from 'node:http';
import { connect } from 'node:net';
import { createSocket } from 'node:dgram';
import { createInterface } from 'node:readline';

const [mode, a1 = '', a2 = '', a3 = '', a4 = '', a5 = ''] = process.argv.slice(2);
const local = (a: string) => (a ? { localAddress: a } : {});

function httpOnce(url: string, from: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const req = request(url, { agent: false, timeout: 3000, ...local(from) }, (res) => {
      let body = '';
      res.on('data', (d: Buffer) => (body += d.toString()));
      res.on('end', () => resolve(body));
    });
    req.on('timeout', () => req.destroy(new Error('timeout')));
    req.on('error', reject);
    req.end();
  });
}

function udpOnce(host: string, port: number, from: string, sport: number): Promise<string> {
  return new Promise((resolve, reject) => {
    const s = createSocket({ type: host.includes(':') ? 'udp6' : 'udp4', reuseAddr: true });
    const timer = setTimeout(() => {
      s.close();
      reject(new Error('timeout'));
    }, 2000);
    s.on('message', (m) => {
      clearTimeout(timer);
      s.close();
      resolve(m.toString());
    });
    s.on('error', (e) => {
      clearTimeout(timer);
      s.close();
      reject(e);
    });
    const send = () => s.send('ping', port, host);
    if (from || sport) s.bind({ address: from || undefined, port: sport || 0 }, send);
    else send();
  });
}

async function batch(n: number, once: () => Promise<string>): Promise<void> {
  const replies: string[] = [];
  let errors = 0;
  for (let i = 0; i < Math.min(n, 10_000); i++) {
    try {
      replies.push(await once());
    } catch {
      errors++;
    }
  }
  process.stdout.write(JSON.stringify({ replies, errors }) + '\n');
}

if (mode === 'http') await batch(Number(a2), () => httpOnce(a1, a3));
else if (mode === 'udp') await batch(Number(a3), () => udpOnce(a1, Number(a2), a4, Number(a5 || 0)));
else if (mode === 'hold') {
  const sock = connect({ host: a1, port: Number(a2), ...local(a3) });
  sock.on('connect', () => process.stdout.write('connected\n'));
  createInterface({ input: sock }).on('line', (l) => process.stdout.write(`${l}\n`));
  sock.on('error', (e) => process.stdout.write(`error ${e.message}\n`));
  sock.on('close', () => {
    process.stdout.write('closed\n');
    process.exit(0);
  });
  createInterface({ input: process.stdin }).on('line', (l) => sock.write(`${l}\n`));
} else {
  process.stderr.write(`unknown mode ${mode}\n`);
  process.exit(2);
}
