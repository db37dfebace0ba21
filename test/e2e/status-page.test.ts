// The status page in a real headless Chromium (Debian's chromium, driven by playwright-core),
// started inside the LB's network namespace next to a real daemon with real backends: it asks for
// the token, shows the services with their endpoints and counters, turns an endpoint killed in its
// namespace inactive without a reload, loads nothing from elsewhere, and fits a phone's width.
import test, { after, before } from 'node:test';
import assert from 'node:assert/strict';
import { statSync } from 'node:fs';
import { join } from 'node:path';
import type { Browser, Page } from 'playwright-core';
import { browserInNetns } from '../support/browser.js';
import { e2eSkipReason } from '../support/netns.js';
import { httpBatch, VIP4 } from './support-dataplane/topo.js';
import { ProbedLb } from './support-dataplane/probed.js';

const skip = e2eSkipReason();
const TOKEN = 'status-page-test-token-0123456789';
const API = '127.0.0.1:19111'; // inside the LB namespace only
const SCREENSHOT = process.env.FERROLB_STATUS_SCREENSHOT; // where to keep the picture (the demo)

let lb: ProbedLb | undefined;
let browser: Browser | undefined;
const P = () => lb as ProbedLb;

before(async () => {
  if (skip) return;
  lb = await ProbedLb.start({
    args: (dir) => ['--api', API, '--api-token-file', join(dir, 'token')],
    files: { token: TOKEN },
    extra: (b) => `---
apiVersion: ferrolb.io/v1
kind: LoadBalancer
metadata: {name: api}
spec: {addresses: ["10.200.0.11"], ports: [{port: 81}], endpoints: [{address: ${b[0]?.v4}}]}
`,
  });
  // The browser runs in the LB namespace, where the API listens (nothing leaves the test's namespaces).
  browser = await browserInNetns(P().t.lb, P().dir.path);
});

after(async () => {
  await browser?.close().catch(() => undefined);
  await lb?.stop();
});

async function openPage(viewport: {
  width: number;
  height: number;
}): Promise<{ page: Page; foreign: string[] }> {
  const page = await (browser as Browser).newPage({ viewport });
  const foreign: string[] = [];
  page.on('request', (r) => {
    if (!r.url().startsWith(`http://${API}/`)) foreign.push(r.url());
  });
  await page.goto(`http://${API}/`);
  return { page, foreign };
}

async function login(page: Page): Promise<void> {
  await page.locator('#login').waitFor({ state: 'visible', timeout: 10_000 });
  await page.fill('#token', TOKEN);
  await page.click('#login button');
  await page.locator('[data-service="web"]').waitFor({ timeout: 10_000 });
}

const endpointState = (page: Page, service: string, address: string) =>
  page.locator(`[data-service="${service}"] [data-endpoint="${address}"] .badge`).getAttribute('data-state');

/** Polls the page (through the driver: the page's CSP allows no eval) until `f` holds, bounded. */
async function until(what: string, f: () => Promise<boolean>, timeoutMs = 15_000): Promise<void> {
  const end = Date.now() + timeoutMs;
  while (!(await f().catch(() => false))) {
    if (Date.now() > end) throw new Error(`${what}: not within ${timeoutMs} ms`);
    await new Promise((r) => setTimeout(r, 100));
  }
}
const waitEndpoint = (page: Page, service: string, address: string, state: string) =>
  until(
    `${service} ${address} ${state}`,
    async () => (await endpointState(page, service, address)) === state,
  );

test('the page asks for the token, then shows every service, endpoint and counter', { skip }, async () => {
  const { page, foreign } = await openPage({ width: 1280, height: 900 });
  // Without the token the page shows no data at all.
  await page.locator('#login').waitFor({ state: 'visible', timeout: 10_000 });
  assert.equal(await page.locator('[data-service]').count(), 0);
  await login(page);
  const [b1, b2] = [P().backend(0), P().backend(1)];
  for (const b of [b1, b2]) await waitEndpoint(page, 'web', b.v4, 'active');
  const web = page.locator('[data-service="web"]');
  assert.match(
    (await web.innerText()).replace(/\s+/g, ' '),
    new RegExp(`web ${VIP4.replaceAll('.', '\\.')} 80/TCP Allocated`),
  );
  assert.match(await page.locator('[data-service="api"]').innerText(), /10\.200\.0\.11/);

  // Traffic shows up in the counters, live.
  const r = await httpBatch(P().t, VIP4, 80, 30);
  assert.equal(r.errors, 0);
  await until('counters on the page', async () =>
    /[1-9]\d* pkt/.test(await page.locator('[data-service="web"] td.num').first().innerText()),
  );
  assert.deepEqual(foreign, [], 'everything comes from the daemon');
  await page.close();
});

test('an endpoint killed in its namespace turns inactive on the open page, no reload', { skip }, async () => {
  const { page } = await openPage({ width: 1280, height: 900 });
  await login(page);
  const b2 = P().backend(1);
  const navigations: string[] = [];
  page.on('framenavigated', (f) => navigations.push(f.url()));
  P().kill(b2);
  await waitEndpoint(page, 'web', b2.v4, 'inactive');
  assert.equal(await endpointState(page, 'web', P().backend(0).v4), 'active');
  assert.match(await page.locator('[data-card="endpoints"]').innerText(), /1 inactive/);
  assert.deepEqual(navigations, [], 'the page updated in place');
  await P().revive(b2);
  await waitEndpoint(page, 'web', b2.v4, 'active');
  await page.close();
});

test(
  'on a phone: one column, no sideways scrolling, the screenshot has the page structure',
  { skip },
  async () => {
    const { page } = await openPage({ width: 390, height: 844 });
    await login(page);
    type Box = { x: number; y: number; w: number; h: number } | null;
    const layout = (await page.evaluate(`(() => {
    const box = (sel) => {
      const r = document.querySelector(sel)?.getBoundingClientRect();
      return r ? { x: Math.round(r.x), y: Math.round(r.y), w: Math.round(r.width), h: Math.round(r.height) } : null;
    };
    return {
      scrollWidth: document.documentElement.scrollWidth,
      header: box('header'),
      summary: box('#summary'),
      services: box('#services'),
      row: box('[data-service="web"]'),
      theadShown: getComputedStyle(document.querySelector('#services thead')).display !== 'none',
    };
  })()`)) as { scrollWidth: number; header: Box; summary: Box; services: Box; row: Box; theadShown: boolean };
    assert.ok(layout.scrollWidth <= 390, `page is ${layout.scrollWidth}px wide on a 390px screen`);
    assert.equal(layout.theadShown, false, 'rows become cards');
    // Structure: header on top, then the summary cards, then the services; all full width.
    const { header, summary, services, row } = layout;
    assert.ok(header && summary && services && row, JSON.stringify(layout));
    assert.ok(header.y < summary.y && summary.y < services.y, JSON.stringify(layout));
    for (const b of [summary, services]) assert.ok(b.w >= 340 && b.x + b.w <= 390, JSON.stringify(b));
    assert.ok(row.h > 80, 'a service card stacks its fields');
    const file = SCREENSHOT ?? join(P().dir.path, 'status.png');
    const png = await page.screenshot({ path: file, fullPage: true });
    // PNG header: width and height (IHDR) of a full-page picture of a 390px-wide layout.
    assert.equal(png.subarray(1, 4).toString('latin1'), 'PNG');
    assert.equal(png.readUInt32BE(16), 390);
    assert.ok(png.readUInt32BE(20) >= 844);
    assert.ok(statSync(file).size > 10_000, 'the picture has content');
    await page.close();
  },
);
