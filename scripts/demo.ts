// `npm run demo`: the standalone daemon on the example config, driven with ferroctl like a user would.
import { spawnSync } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { FERROCTL, REPO, startDaemon, stopDaemon, tempDir } from '../test/support/daemon.js';

function step(title: string): void {
  console.log(`\n\x1b[1m== ${title}\x1b[0m`);
}

function ctl(url: string, args: string[]): void {
  console.log(`$ ferroctl ${args.join(' ')}`);
  const r = spawnSync(process.execPath, [FERROCTL, '--server', url, ...args], { encoding: 'utf8' });
  process.stdout.write(r.stdout);
  process.stdout.write(r.stderr);
}

async function main(): Promise<void> {
  const dir = tempDir('ferrolb-demo-');
  const config = join(REPO, 'examples/standalone.yaml');
  step(`ferrolb run --config examples/standalone.yaml --state-dir ${dir.path}`);
  let d = await startDaemon(['--config', config, '--state-dir', dir.path]);
  try {
    console.log(`API at ${d.url}`);
    step('load balancers, one row per endpoint');
    ctl(d.url, ['get', 'lb', '-o', 'wide']);
    step('pools');
    ctl(d.url, ['get', 'pools']);

    step('apply a new service through the API');
    const extra = join(dir.path, 'extra.yaml');
    writeFileSync(
      extra,
      'apiVersion: ferrolb.io/v1\nkind: LoadBalancer\nmetadata: {name: api-demo}\nspec:\n  pool: public\n  ipFamilyPolicy: RequireDualStack\n  ports: [{port: 443, protocol: TCP}]\n  algorithm: maglev\n  endpoints: [{address: 10.201.2.4}, {address: "fd00:201::4"}]\n',
    );
    ctl(d.url, ['apply', '-f', extra]);
    ctl(d.url, ['get', 'lb', 'api-demo', '-o', 'json']);

    step('an invalid change is refused with the field and value; nothing changes');
    writeFileSync(
      extra,
      'apiVersion: ferrolb.io/v1\nkind: LoadBalancer\nmetadata: {name: api-demo}\nspec: {pool: nowhere, ports: [{port: 70000}]}\n',
    );
    ctl(d.url, ['apply', '-f', extra]);

    step('restart the daemon (SIGKILL): every address stays where it was');
    await stopDaemon(d, 'SIGKILL');
    d = await startDaemon(['--config', config, '--state-dir', dir.path]);
    ctl(d.url, ['get', 'lb']);
  } finally {
    await stopDaemon(d);
    dir.remove();
  }
}

main().catch((e: unknown) => {
  console.error(e);
  process.exitCode = 1;
});
