// Main-side handle of the BFD worker (bfd/worker.ts), with the BfdManager's shape: the speaker uses
// either. States are mirrored from the worker's events so `state()` stays synchronous.
import { formatIp, parseIp } from '../../net/ip.js';
import { WorkerSupervisor } from '../../threads/supervisor.js';
import { parseFromBfd, type FromBfd, type ToBfd } from '../thread/protocol.js';
import type { BfdStateName } from './codec.js';
import type { BfdEvents, BfdPeerConfig } from './shell.js';

const canonical = (a: string): string => formatIp(parseIp(a.replace(/^::ffff:(?=\d+\.)/, '')));

/** What the speaker needs of a BFD implementation (BfdManager in-process, BfdThread in a worker). */
export interface BfdService {
  start(): Promise<void>;
  setPeers(peers: readonly BfdPeerConfig[]): Promise<void>;
  state(peerAddress: string): BfdStateName | undefined;
  close(): void | Promise<void>;
}

export class BfdThread implements BfdService {
  private readonly sup: WorkerSupervisor<ToBfd, unknown>;
  private peers: readonly BfdPeerConfig[] = [];
  private states = new Map<string, BfdStateName>();

  constructor(private readonly events: BfdEvents) {
    this.sup = new WorkerSupervisor<ToBfd, unknown>({
      name: 'bfd',
      url: new URL('./worker.js', import.meta.url),
      workerData: () => undefined,
      onMessage: (m) => this.onMessage(parseFromBfd(m)),
      onStart: (restart) => {
        if (restart > 0 && this.peers.length > 0) this.sup.post({ type: 'peers', peers: this.peers });
      },
      onExit: (x) => {
        // Sessions are gone with the thread: report them Down and restart; the peer sees a new session.
        for (const [addr, st] of this.states) if (st === 'Up') this.events.onDown(addr, 0);
        this.states.clear();
        this.events.log?.(
          `BFD thread exited (${x.error ?? `code ${x.code}`}); restart ${x.restarts} in ${x.restartInMs} ms`,
        );
      },
      stopMessage: { type: 'stop' },
      stopGraceMs: 2000,
    });
  }

  /** Spawns the worker; messages posted before it runs are queued. Socket errors arrive as logs. */
  start(): Promise<void> {
    this.sup.start();
    return Promise.resolve();
  }

  setPeers(peers: readonly BfdPeerConfig[]): Promise<void> {
    this.peers = peers;
    this.sup.post({ type: 'peers', peers });
    return Promise.resolve();
  }

  state(peerAddress: string): BfdStateName | undefined {
    return this.states.get(canonical(peerAddress));
  }

  close(): Promise<void> {
    return this.sup.stop();
  }

  private onMessage(m: FromBfd): void {
    switch (m.type) {
      case 'started':
        break;
      case 'start-failed':
        this.events.log?.(`BFD thread: ${m.message}`);
        break;
      case 'states':
        this.states = new Map(m.states as [string, BfdStateName][]);
        break;
      case 'up':
        this.events.onUp?.(m.peerAddress);
        break;
      case 'down':
        this.events.onDown(m.peerAddress, m.diag);
        break;
      case 'log':
        this.events.log?.(m.msg);
        break;
      case 'stopped':
        break;
    }
  }
}
