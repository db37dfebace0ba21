// Runs a role's Supervisor in the foreground: start (rolled back and rethrown on failure), then wait
// for SIGTERM/SIGINT and stop everything in reverse order. Exit code 0 after a clean stop (also when
// a signal arrives during start-up), 1 when a required component failed while running. The signal
// handlers are removed again, so nothing lingers after the role returns.
import type { Logger } from 'pino';
import { describe, StoppedWhileStarting, type Supervisor } from '../shell/component.js';

export interface RoleHooks {
  readonly onHup?: () => void;
  /** Called once every component has started. */
  readonly running?: () => void;
}

export async function runRole(supervisor: Supervisor, log: Logger, hooks: RoleHooks = {}): Promise<number> {
  let signalled: (signal: string) => void = () => undefined;
  const signal = new Promise<string>((r) => (signalled = r));
  const onSignal = (s: NodeJS.Signals) => signalled(s);
  const onHup = () => hooks.onHup?.();
  process.on('SIGTERM', onSignal);
  process.on('SIGINT', onSignal);
  process.on('SIGHUP', onHup);
  try {
    void signal.then(() => supervisor.stop());
    try {
      await supervisor.start();
    } catch (e) {
      if (e instanceof StoppedWhileStarting) {
        log.info('stopped during start-up');
        return 0;
      }
      throw e;
    }
    hooks.running?.();
    const why = await Promise.race([
      signal.then((s) => ({ signal: s })),
      supervisor.fatal.then((f) => ({ fatal: f })),
    ]);
    if ('signal' in why) log.info({ signal: why.signal }, 'shutting down');
    else
      log.error(
        { component: why.fatal.component, err: describe(why.fatal.err) },
        'a required component failed; shutting down',
      );
    await supervisor.stop();
    log.info('stopped');
    return 'signal' in why ? 0 : 1;
  } finally {
    process.off('SIGTERM', onSignal);
    process.off('SIGINT', onSignal);
    process.off('SIGHUP', onHup);
  }
}
