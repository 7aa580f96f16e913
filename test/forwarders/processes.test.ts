import { afterAll, beforeAll, expect, it } from 'vitest';
import { uniqueCluster } from '../support/nats.ts';
import { startRunningCluster, type ProcessCluster, type RunningCluster } from '../support/process-cluster.ts';
import { subjects } from '../../bus/subjects.ts';
import type { NatsBus } from '../../bus/nats-bus.ts';
import { TenureClient } from '../../client/tenure-client.ts';
import { TenureError } from '../../errors/errors.ts';
import type { LeaseInfo } from '../../lease/types.ts';

/** The forwarders end to end: `tenure node` processes on a real nats-server, driven through the public client. */
const cluster = uniqueCluster('fwdproc');
let procs: ProcessCluster;
let running: RunningCluster | undefined;
let bus: NatsBus;
let client: TenureClient;

beforeAll(async () => {
  // Smaller lanes than the defaults so that a burst a test can afford overloads the leader reliably.
  const admission = { lanes: { claim: { capacity: 400, admitBelowLoad: 200 }, extend: { capacity: 4000, admitBelowLoad: 4000 } } };
  running = await startRunningCluster(cluster, ['n1', 'n2', 'n3'], { TENURE_CLOCK_INTERVAL_MS: '1000', TENURE_ADMISSION: JSON.stringify(admission) });
  ({ procs, bus, client } = running);
}, 60_000);

afterAll(() => running?.stop());

const key = (lease: string) => ({ namespace: 'application-leadership', model: 'proc', lease });

it('switches transports at runtime under load without losing an acknowledged command', async () => {
  const s = subjects(cluster);
  const acked: string[] = [];
  let running = true;
  let n = 0;
  const worker = async () => {
    while (running) {
      const lease = `sw${n++}`;
      try {
        await client.claim(key(lease), 'unit/0', 600_000);
        acked.push(lease);
      } catch (err) {
        if (!(err instanceof TenureError)) throw err;
      }
    }
  };
  const workers = Array.from({ length: 8 }, worker);
  const switchTo = async (transport: string) => {
    const r = await bus.request<{ transport: string }>(s.control('transport'), { transport }, { deadlineMs: 2000 });
    expect(r.transport).toBe(transport);
  };
  await sleep(700);
  const beforeLegacy = acked.length;
  await switchTo('legacy-pubsub');
  await sleep(1000);
  const duringLegacy = acked.length - beforeLegacy;
  await switchTo('facade');
  await sleep(700);
  running = false;
  await Promise.all(workers);
  expect(beforeLegacy).toBeGreaterThan(0);
  expect(duringLegacy).toBeGreaterThan(0);

  // Every node's lease table holds every acknowledged claim, whichever transport carried it.
  const status = await bus.request<{ commit: number }>(s.control('status', await procs.waitForLeader(bus)), {}, { deadlineMs: 2000 });
  for (const node of procs.nodes) {
    await until(async () => (await procs.status(bus, node.id))!.applied >= status.commit, 10_000);
    const r = await bus.request<{ leases: LeaseInfo[] }>(s.control('leases', node.id), {}, { deadlineMs: 2000 });
    const held = new Set(r.leases.map((l) => l.key.lease));
    expect(acked.filter((l) => !held.has(l)), `missing on ${node.id}`).toEqual([]);
  }
}, 60_000);

it('under a burst far above capacity refuses claims before extends', async () => {
  const held = Array.from({ length: 200 }, (_, i) => `keep${i}`);
  await Promise.all(held.map((l) => client.claim(key(l), 'unit/0', 600_000)));
  // One attempt per call, so the callers see what the service answered (TenureClient normally
  // retries an Overloaded after its retry-after hint, with jitter).
  const raw = new TenureClient(bus, { cluster, maxAttempts: 1 });
  const outcome = (p: Promise<unknown>) => p.then(() => 'ok', (e: unknown) => (e instanceof TenureError ? e.code : 'error'));
  const claims: Promise<string>[] = [];
  const extendsP: Promise<string>[] = [];
  for (let i = 0; i < 8000; i++) {
    claims.push(outcome(raw.claim(key(`burst${i}`), 'unit/1', 600_000, { deadlineMs: 20_000 })));
    if (i % 20 === 0) extendsP.push(outcome(raw.extend(key(held[(i / 20) % held.length]), 'unit/0', 600_000, { deadlineMs: 20_000 })));
  }
  const c = count(await Promise.all(claims));
  const e = count(await Promise.all(extendsP));
  const leaderId = await procs.waitForLeader(bus);
  const st = await bus.request<{ forwarding: { facade: { leader: { shed: Record<string, number> } } } }>(subjects(cluster).control('status', leaderId), {}, { deadlineMs: 2000 });
  // Claims were shed (by a busy node before decoding, or by the leader's admission lanes); no
  // extension was, anywhere.
  expect(st.forwarding.facade.leader.shed.extend).toBe(0);
  // Claims were shed (Overloaded with a retry-after); no extension was.
  expect(c.Overloaded ?? 0).toBeGreaterThan(0);
  expect(e.Overloaded ?? 0).toBe(0);
  expect(e.ok).toBe(extendsP.length);

  // And the service recovers once the burst is over.
  await expect(client.claim(key('after-burst'), 'unit/2', 60_000)).resolves.toMatchObject({ holder: 'unit/2' });
  await raw.close();
}, 90_000);

function count(xs: string[]): Record<string, number> {
  const out: Record<string, number> = {};
  for (const x of xs) out[x] = (out[x] ?? 0) + 1;
  return out;
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

async function until(cond: () => Promise<boolean>, timeoutMs: number): Promise<void> {
  const end = Date.now() + timeoutMs;
  while (Date.now() < end) {
    if (await cond()) return;
    await sleep(50);
  }
  throw new Error('condition not met in time');
}
