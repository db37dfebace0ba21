// Runs inside the client namespace for the change-latency benchmark:
//   node change-probe.js API_URL N
// For i in 0..N-1: PUT a new LoadBalancer (10.200.0.(100+i):80 → backend :8080) and time until an
// HTTP request through that new VIP succeeds. Prints one JSON line {apiMs[], trafficMs[]}.
import { request } from 'node:http';

const [api, nText] = process.argv.slice(2);
const n = Number(nText ?? 20);
const backend = process.env.BACKEND ?? '10.201.2.11';

function get(host: string, timeoutMs: number): Promise<boolean> {
  return new Promise((resolve) => {
    const req = request({ host, port: 80, path: '/', timeout: timeoutMs, agent: false }, (res) => {
      res.resume();
      res.on('end', () => resolve(res.statusCode === 200));
    });
    req.on('timeout', () => req.destroy());
    req.on('error', () => resolve(false));
    req.end();
  });
}

async function main(): Promise<void> {
  const apiMs: number[] = [];
  const trafficMs: number[] = [];
  for (let i = 0; i < n; i++) {
    const vip = `10.200.0.${100 + i}`;
    const body = JSON.stringify({
      spec: {
        addresses: [vip],
        ports: [{ port: 80, targetPort: 8080 }],
        mode: 'fullnat',
        endpoints: [{ address: backend }],
      },
    });
    const t0 = performance.now();
    const res = await fetch(`${api}/api/v1/loadbalancers/bench-${i}`, {
      method: 'PUT',
      headers: { 'content-type': 'application/json' },
      body,
    });
    if (res.status !== 200) throw new Error(`PUT failed: ${res.status} ${await res.text()}`);
    apiMs.push(performance.now() - t0);
    // Bounded: 400 attempts of ≤ 25 ms.
    let ok = false;
    for (let a = 0; a < 400 && !ok; a++) ok = await get(vip, 25);
    if (!ok) throw new Error(`traffic to ${vip} never followed`);
    trafficMs.push(performance.now() - t0);
  }
  process.stdout.write(`${JSON.stringify({ apiMs, trafficMs })}\n`);
}

void main();
