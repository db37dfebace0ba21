// The list+watch loop against the emulator: retries on errors, treats an unserved resource as empty,
// relists on demand and after 410, and its watchdog notices a silent connection.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { CoreV1Api, type KubeConfig } from '@kubernetes/client-node';
import { Reflector, type Listed } from '../../../src/k8s/reflector.js';
import { startEmulator, waitFor, type KubeEmulator } from '../../support/kube-emulator/index.js';
import type { KService } from '../../../src/k8s/types.js';

describe('Reflector', () => {
  let emu: KubeEmulator;
  let kc: KubeConfig;
  let core: CoreV1Api;
  const made: Reflector<KService>[] = [];
  before(async () => {
    ({ emu, kc } = await startEmulator({ bookmarkIntervalMs: 50 }));
    core = kc.makeApiClient(CoreV1Api);
  });
  after(async () => {
    for (const r of made) await r.stop();
    await emu.stop();
  });
  const mk = (over: { list?: () => Promise<Listed<KService>>; stallMs?: number; path?: string } = {}) => {
    const r = new Reflector<KService>({
      kc,
      path: over.path ?? '/api/v1/services',
      list:
        over.list ?? (async () => (await core.listServiceForAllNamespaces()) as unknown as Listed<KService>),
      onChange: () => undefined,
      backoffInitialMs: 10,
      backoffMaxMs: 50,
      absentRetryMs: 50,
      stallMs: over.stallMs ?? 5000,
    });
    made.push(r);
    r.start();
    return r;
  };
  const create = (name: string) =>
    core.createNamespacedService({
      namespace: 'r',
      body: { metadata: { name }, spec: { ports: [{ port: 1 }] } },
    });

  it('retries a failing list with backoff until it succeeds', async () => {
    emu.injectErrors(3, 500, (m, p) => m === 'GET' && p === '/api/v1/services');
    await create('one');
    const r = mk();
    await r.synced;
    assert.ok(r.items.has('r/one'));
    assert.ok(r.stats.errors >= 3);
    emu.clearInjectedErrors();
  });

  it('treats a resource the server does not serve (404) as empty, and keeps checking', async () => {
    let calls = 0;
    const r = mk({
      path: '/apis/absent.example/v1/things',
      list: async () => {
        calls++;
        throw Object.assign(new Error('not found'), { code: 404 });
      },
    });
    await r.synced;
    assert.equal(r.items.size, 0);
    await waitFor(() => calls >= 3, 'periodic re-check');
  });

  it('relists after 410 and on demand; follows adds and deletes', async () => {
    const r = mk();
    await r.synced;
    await create('two');
    await waitFor(() => r.items.has('r/two'), 'watch add');
    const lists = r.stats.lists;
    // The watch misses a change, then its resourceVersion is compacted away: re-watching gets 410.
    emu.stallWatches();
    await core.deleteNamespacedService({ name: 'two', namespace: 'r' });
    emu.store.compact();
    emu.closeWatches();
    await waitFor(() => !r.items.has('r/two'), 'delete seen via relist');
    assert.ok(r.stats.lists > lists);
    assert.ok(r.stats.relistsAfterGone >= 1);
    const before = r.stats.lists;
    r.relist();
    await waitFor(() => r.stats.lists > before, 'forced relist');
  });

  it('the watchdog relists a watch that goes silent (no events, no bookmarks)', async () => {
    const r = mk({ stallMs: 300 });
    await r.synced;
    await create('marker');
    await waitFor(() => r.items.has('r/marker'), 'watch live');
    emu.stallWatches();
    await create('three');
    await waitFor(() => r.items.has('r/three'), 'seen after the watchdog relisted', 5000);
    assert.ok(r.stats.watchdogFires >= 1);
  });
});
