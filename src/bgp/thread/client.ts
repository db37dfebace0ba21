// Main-thread handle of the BGP speaker thread (thread/worker.ts). It keeps the desired peers and
// routes, replays them to a restarted worker, and serves a synchronous status() from the last
// status the worker published (uptimes advanced locally), so callers see the BgpSpeaker's shapes.
import { WorkerSupervisor, type WorkerExit } from '../../threads/supervisor.js';
import type { AdvertisedRoute } from '../ribout.js';
import { checkPeerSupported } from '../speaker.js';
import type { BgpStatus, PeerConfig } from '../types.js';
import {
  parseFromSpeaker,
  rebaseStatus,
  statusWhileRestarting,
  type FromSpeaker,
  type SpeakerWorkerData,
  type ToSpeaker,
} from './protocol.js';

export interface SpeakerThreadOptions {
  readonly listen: SpeakerWorkerData['listen'];
  /** The daemon is coming back from a crash (graceful restart). */
  readonly restarting: boolean;
  readonly log: (level: 'info' | 'warn' | 'error', msg: string) => void;
  readonly statusIntervalMs?: number;
}

export class SpeakerThread {
  private readonly sup: WorkerSupervisor<ToSpeaker, unknown>;
  private peers: readonly PeerConfig[] | undefined;
  private routes: readonly AdvertisedRoute[] | undefined;
  private last: { status: BgpStatus; at: number } = { status: { sessions: [], routes: [] }, at: 0 };
  private down: string | undefined;
  private everStarted = false;
  private first?: { resolve: () => void; reject: (e: Error) => void };

  private readonly graceful = { stop: false };

  constructor(private readonly opts: SpeakerThreadOptions) {
    const graceful = this.graceful;
    this.sup = new WorkerSupervisor<ToSpeaker, unknown>({
      name: 'bgp',
      url: new URL('./worker.js', import.meta.url),
      workerData: (): SpeakerWorkerData => ({
        listen: opts.listen,
        // After a worker death the peers saw our sessions drop: come back as a graceful restart.
        restarting: opts.restarting || this.everStarted,
        statusIntervalMs: opts.statusIntervalMs ?? 250,
      }),
      onMessage: (m) => this.onMessage(parseFromSpeaker(m)),
      onStart: () => {
        if (this.peers) this.sup.post({ type: 'peers', peers: this.peers });
        if (this.routes) this.sup.post({ type: 'routes', routes: this.routes });
      },
      onExit: (x) => this.onExit(x),
      // Read at stop time: close(graceful) decides which stop the worker gets.
      get stopMessage(): ToSpeaker {
        return graceful.stop ? { type: 'stop', graceful: true } : { type: 'stop' };
      },
      stopGraceMs: 5000,
    });
  }

  /** Resolves once the speaker listens; rejects if the first attempt fails (it is retried anyway). */
  start(): Promise<void> {
    return new Promise<void>((resolve, reject) => {
      this.first = { resolve, reject };
      this.sup.start();
    });
  }

  /** Throws BgpUnsupportedError here, on the caller's thread, for settings the speaker refuses. */
  setPeers(peers: readonly PeerConfig[]): void {
    for (const p of peers) checkPeerSupported(p);
    this.peers = peers;
    this.sup.post({ type: 'peers', peers });
  }

  setRoutes(routes: readonly AdvertisedRoute[]): void {
    this.routes = routes;
    this.sup.post({ type: 'routes', routes });
  }

  status(): BgpStatus {
    if (this.down !== undefined) return statusWhileRestarting(this.last.status, this.down);
    return rebaseStatus(this.last.status, this.last.at, Date.now());
  }

  /** Why the speaker is not running (a failed start being retried, a restart), or undefined. */
  downReason(): string | undefined {
    return this.down;
  }

  thread(): ReturnType<WorkerSupervisor<ToSpeaker, unknown>['status']> {
    return this.sup.status();
  }

  /**
   * Sessions closed with a Cease, then the thread ends. graceful: a planned restart while the kernel
   * keeps forwarding; sessions with graceful restart end without a Cease and peers keep our routes.
   */
  close(opts: { graceful?: boolean } = {}): Promise<void> {
    this.graceful.stop = opts.graceful ?? false;
    return this.sup.stop();
  }

  private onMessage(m: FromSpeaker): void {
    switch (m.type) {
      case 'started':
        this.everStarted = true;
        this.down = undefined;
        this.first?.resolve();
        this.first = undefined;
        break;
      case 'start-failed':
        this.opts.log('error', `BGP speaker failed to start: ${m.message}`);
        this.first?.reject(new Error(m.message));
        this.first = undefined;
        break;
      case 'status':
        this.last = { status: m.status, at: m.at };
        break;
      case 'log':
        this.opts.log('info', m.msg);
        break;
      case 'error':
        this.opts.log('error', `BGP speaker: ${m.message}`);
        break;
      case 'stopped':
        break;
    }
  }

  private onExit(x: WorkerExit): void {
    if (!this.everStarted && x.code === 1 && x.error === undefined) {
      // A failed start already reported why; it is being retried.
      this.down = `BGP speaker not started; retry ${x.restarts} in ${x.restartInMs} ms`;
      return;
    }
    this.down = `BGP speaker thread died (${x.error ?? `exit code ${x.code}`}); restart ${x.restarts} in ${x.restartInMs} ms`;
    this.opts.log('error', this.down);
  }
}
