// Debian's chromium, headless, driven by playwright-core, started inside a network namespace (so a
// page served only there — an API bound to that namespace's loopback — is reachable, and nothing the
// browser does leaves the test's namespaces).
import { chmodSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { chromium, type Browser } from 'playwright-core';

export const CHROMIUM = '/usr/bin/chromium';

export async function browserInNetns(ns: string, dir: string): Promise<Browser> {
  const wrapper = join(dir, `chromium-in-${ns}`);
  writeFileSync(wrapper, `#!/bin/sh\nexec ip netns exec ${ns} ${CHROMIUM} "$@"\n`);
  chmodSync(wrapper, 0o755);
  return chromium.launch({
    executablePath: wrapper,
    headless: true,
    timeout: 60_000,
    args: [
      ...['--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-component-update'],
      ...['--disable-sync', '--no-first-run', '--disable-dev-shm-usage'],
    ],
  });
}
