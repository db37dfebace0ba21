// One LB namespace with two real HTTP backends and `ferrolb run` (data plane and probes on) serving
// a probed fullnat service `web` on VIP4:80 — the fixture of the operator-facing tests (metrics,
// status page). Everything it starts is stopped by `stop()`, pass or fail.
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { ChildProcess } from 'node:child_process';
import { Topology } from '../../support/netns.js';
import { startDaemon, stopDaemon, tempDir, type Daemon } from '../../support/daemon.js';
import { buildLbTopology, startBackend, VIP4, type Backend, type LbTopo } from './topo.js';

export const webConfig = (b: readonly Backend[], extra = ''): string => `
apiVersion: ferrolb.io/v1
kind: IPAddressPool
metadata: {name: vips}
spec: {addresses: ["10.200.0.10-10.200.0.20"]}
---
apiVersion: ferrolb.io/v1
kind: LoadBalancer
metadata: {name: web}
spec:
  addresses: ["${VIP4}"]
  ports: [{port: 80, protocol: TCP, targetPort: 8080}]
  mode: fullnat
  snatAddresses: ["10.201.2.1"]
  endpoints: [{address: ${b[0]?.v4}}, {address: ${b[1]?.v4}}]
  healthCheck: {type: http, port: 8080, path: /, interval: 300ms, timeout: 200ms, unhealthyThreshold: 2, healthyThreshold: 1}
${extra}`;

export interface ProbedOptions {
  /** More `ferrolb run` flags, given the test's temporary directory. */
  readonly args?: (dir: string) => readonly string[];
  /** More YAML documents (each starting with `---`), given the backends. */
  readonly extra?: (b: readonly Backend[]) => string;
  /** Files written into the temporary directory before the daemon starts (mode 0600). */
  readonly files?: Readonly<Record<string, string>>;
}

export class ProbedLb {
  daemon: Daemon | undefined;
  readonly servers = new Map<string, ChildProcess>();
  private constructor(
    readonly topo: Topology,
    readonly t: LbTopo,
    readonly dir: { path: string; remove: () => void },
  ) {}

  get config(): string {
    return join(this.dir.path, 'cfg.yaml');
  }

  static async start(o: ProbedOptions = {}): Promise<ProbedLb> {
    const topo = new Topology();
    const dir = tempDir();
    let lb: ProbedLb | undefined;
    try {
      lb = new ProbedLb(
        topo,
        await buildLbTopology(topo, { backends: 2, backendDefaultRoute: false, servers: false }),
        dir,
      );
      for (const b of lb.t.backends) lb.servers.set(b.name, await startBackend(topo, b));
      for (const [name, text] of Object.entries(o.files ?? {}))
        writeFileSync(join(dir.path, name), text, { mode: 0o600 });
      writeFileSync(lb.config, webConfig(lb.t.backends, o.extra?.(lb.t.backends) ?? ''));
      lb.daemon = await startDaemon(
        [
          ...['--config', lb.config, '--state-dir', join(dir.path, 'state'), ...(o.args?.(dir.path) ?? [])],
          ...['--dataplane', 'on', '--probes', 'on'],
        ],
        {},
        20_000,
        ['ip', 'netns', 'exec', lb.t.lb],
      );
    } catch (e) {
      if (lb) await lb.stop();
      else {
        await topo.cleanup();
        dir.remove();
      }
      throw e;
    }
    return lb;
  }

  backend(i: number): Backend {
    const b = this.t.backends[i];
    if (!b) throw new Error(`no backend ${i}`);
    return b;
  }

  kill(b: Backend): void {
    this.servers.get(b.name)?.kill('SIGKILL');
  }

  async revive(b: Backend): Promise<void> {
    this.servers.set(b.name, await startBackend(this.topo, b));
  }

  async stop(): Promise<void> {
    if (this.daemon) await stopDaemon(this.daemon, 'SIGTERM');
    this.daemon = undefined;
    for (const p of this.servers.values()) p.kill('SIGKILL');
    await this.topo.cleanup();
    this.dir.remove();
  }
}
