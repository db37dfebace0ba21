// Test entry point: the emulator plus a KubeConfig for @kubernetes/client-node pointing at it.
import { CustomObjectsApi, KubeConfig } from '@kubernetes/client-node';
import { KubeEmulator, type EmulatorOptions } from './server.js';

import { ADMIN_TOKEN } from './rbac.js';

export { KubeEmulator, type EmulatorOptions } from './server.js';
export { ApiError, Store, type Json } from './store.js';
export { BUILTIN_TYPES, type ResourceType } from './resources.js';
export { ADMIN_TOKEN, unusedGrants, rbacManifest, type AuthzRecord } from './rbac.js';

/** The shipped ServiceAccounts (deploy/manifests/rbac.yaml). */
export const CONTROLLER_SA = { namespace: 'ferrolb-system', name: 'ferrolb-controller' } as const;
export const AGENT_SA = { namespace: 'ferrolb-system', name: 'ferrolb-agent' } as const;

/**
 * A kubeconfig for a plain-HTTP server (client-node refuses http:// without insecure-skip-tls-verify).
 * The token defaults to the emulator's admin (test set-up); roles use their ServiceAccount's.
 */
export function kubeConfigFor(url: string, token: string = ADMIN_TOKEN): KubeConfig {
  const kc = new KubeConfig();
  kc.loadFromOptions({
    clusters: [{ name: 'emulator', server: url, skipTLSVerify: true }],
    users: [{ name: 'test', token }],
    contexts: [{ name: 'emulator', cluster: 'emulator', user: 'test', namespace: 'default' }],
    currentContext: 'emulator',
  });
  return kc;
}

/** The same, as a kubeconfig file's text: for `ferrolb controller` / `ferrolb agent --kubeconfig`. */
export const kubeconfigYaml = (url: string, token: string = ADMIN_TOKEN): string =>
  [
    'apiVersion: v1',
    'kind: Config',
    `clusters: [{name: emulator, cluster: {server: "${url}", insecure-skip-tls-verify: true}}]`,
    `users: [{name: test, user: {token: "${token}"}}]`,
    'contexts: [{name: emulator, context: {cluster: emulator, user: test}}]',
    'current-context: emulator',
    '',
  ].join('\n');

/** A kubeconfig that authenticates as one of the shipped ServiceAccounts (RBAC applies). */
export const kubeConfigAs = (emu: KubeEmulator, sa: { namespace: string; name: string }): KubeConfig =>
  kubeConfigFor(emu.url, emu.tokenFor(sa.namespace, sa.name));

export async function startEmulator(
  opts: EmulatorOptions = {},
): Promise<{ emu: KubeEmulator; kc: KubeConfig }> {
  const emu = new KubeEmulator(opts);
  const url = await emu.start();
  return { emu, kc: kubeConfigFor(url) };
}

/** Polls `fn` until it returns a truthy value; fails after `timeoutMs` (a bound, not an assertion on speed). */
export async function waitFor<T>(
  fn: () => T | Promise<T>,
  what: string,
  timeoutMs = 10_000,
  everyMs = 20,
): Promise<NonNullable<T>> {
  const end = Date.now() + timeoutMs;
  let last: unknown;
  for (;;) {
    try {
      const v = await fn();
      if (v) return v as NonNullable<T>;
    } catch (e) {
      last = e;
    }
    if (Date.now() > end)
      throw new Error(`timed out waiting for ${what}${last ? `: ${(last as Error).message}` : ''}`);
    await new Promise((r) => setTimeout(r, everyMs));
  }
}

/** Creates a ferrolb.io/v1 IPAddressPool (in ferrolb-system) — the configuration most scenarios start from. */
export async function createPool(kc: KubeConfig, name: string, addresses: string[]): Promise<void> {
  await kc.makeApiClient(CustomObjectsApi).createNamespacedCustomObject({
    group: 'ferrolb.io',
    version: 'v1',
    namespace: 'ferrolb-system',
    plural: 'ipaddresspools',
    body: { apiVersion: 'ferrolb.io/v1', kind: 'IPAddressPool', metadata: { name }, spec: { addresses } },
  });
}
