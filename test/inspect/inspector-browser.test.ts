import { afterAll, beforeAll, expect, it } from 'vitest';
import { chromium, type Browser } from 'playwright-core';
import { connectBus, natsUrl, uniqueCluster } from '../support/nats.ts';
import { ProcessCluster } from '../support/process-cluster.ts';
import type { NatsBus } from '../../bus/nats-bus.ts';
import { InspectServer } from '../../cli/inspect-server.ts';

/**
 * The inspector in a real (headless) browser: the page draws every node's statecharts and follows
 * a leader kill live. Needs Debian's chromium (`.ci/run` installs it when missing).
 */
const cluster = uniqueCluster('inspb');
let procs: ProcessCluster;
let bus: NatsBus;
let server: InspectServer;
let url: string;
let browser: Browser;

beforeAll(async () => {
  procs = new ProcessCluster(natsUrl(), cluster, ['n1', 'n2', 'n3'], { TENURE_INSPECT: '1' });
  bus = await connectBus();
  server = new InspectServer(bus, cluster);
  url = await server.listen(0);
  await procs.start();
  await procs.waitForLeader(bus);
  browser = await chromium.launch({
    executablePath: process.env.CHROMIUM_PATH ?? '/usr/bin/chromium',
    args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-component-update', '--disable-sync', '--no-first-run'],
  });
}, 60_000);

afterAll(async () => {
  await browser?.close();
  await server?.close();
  await bus?.close();
  await procs?.stop();
});

it('draws each node with its Raft role highlighted and follows a failover live', async () => {
  const page = await browser.newPage();
  await page.goto(url);
  const activeRaft = (node: string) => page.locator(`.node[data-node="${node}"] .machine[data-machine="raft"] > .state.active`).first();
  await expect.poll(() => page.locator('.node').count(), { timeout: 10_000 }).toBe(3);
  const roles = async () => Promise.all(['n1', 'n2', 'n3'].map(async (n) => (await activeRaft(n).getAttribute('data-state')) ?? '?'));
  await expect.poll(async () => (await roles()).filter((r) => r === 'leader').length, { timeout: 10_000 }).toBe(1);
  const before = await roles();
  const leader = ['n1', 'n2', 'n3'][before.indexOf('leader')];

  await procs.node(leader).kill();
  // A new leader appears in the page without a reload.
  await expect
    .poll(async () => (await roles()).some((r, i) => r === 'leader' && ['n1', 'n2', 'n3'][i] !== leader), { timeout: 15_000 })
    .toBe(true);
  await page.close();
}, 60_000);
