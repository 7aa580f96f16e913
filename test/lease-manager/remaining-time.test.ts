import { afterAll, beforeAll, expect, it } from 'vitest';
import { uniqueCluster } from '../support/nats.ts';
import { startRunningCluster, type RunningCluster } from '../support/process-cluster.ts';

/**
 * A holder acts on `remainingMs` (the leadership helper keeps `validUntil = sent + remainingMs`), so
 * a lease must never be gone before then: otherwise another unit can claim it while the first still
 * believes it leads. Global time moves in clock ticks, and a claim's expiry counts from the last
 * tick's time, so the answer must count the time since that tick too.
 */
const cluster = uniqueCluster('remaining');
let running: RunningCluster | undefined;

beforeAll(async () => {
  running = await startRunningCluster(cluster, ['n1'], { TENURE_CLOCK_INTERVAL_MS: '1000' });
}, 60_000);

afterAll(() => running?.stop());

it('a lease is still held until the time its claim and extend answers promised', async () => {
  const { client } = running!;
  const key = (lease: string) => ({ namespace: 'application-leadership', model: 'remaining', lease });
  const promised: { lease: string; until: number }[] = [];
  // Claims spread over two ticks, so they land at every phase of the clock.
  for (let i = 0; i < 8; i++) {
    const sent = Date.now();
    const r = await client.claim(key(`l${i}`), 'unit/0', 1500);
    promised.push({ lease: `l${i}`, until: sent + r.remainingMs });
    await new Promise((res) => setTimeout(res, 250));
  }
  const freeAt = new Map<string, number>();
  const end = Date.now() + 10_000;
  while (freeAt.size < promised.length && Date.now() < end) {
    for (const p of promised) {
      if (freeAt.has(p.lease)) continue;
      const v = await client.get(key(p.lease));
      if (v.holder === null) freeAt.set(p.lease, Date.now());
    }
    await new Promise((res) => setTimeout(res, 10));
  }
  expect(freeAt.size).toBe(promised.length);
  const early = promised.map((p) => p.until - freeAt.get(p.lease)!);
  // Gone before the promise by more than the polling step: the answer overstated the lease.
  expect(Math.max(...early)).toBeLessThanOrEqual(0);
}, 60_000);

it('a lease lasts its duration from when it was claimed, whatever the phase of the 1 s clock tick', async () => {
  // Before stamps (actors/clock-updater.ts) a claim's expiry counted from the last tick's time, so a
  // lease claimed late in a tick lasted up to a tick less than asked; now the leader advances global
  // time ahead of the claim once 100 ms (TENURE_CLOCK_STAMP_MS) have passed, so it lasts at least
  // its duration less 100 ms from when it was sent (any lateness only makes it end later).
  const { client } = running!;
  const key = (lease: string) => ({ namespace: 'application-leadership', model: 'full-term', lease });
  const durationMs = 1500;
  const sent = new Map<string, number>();
  for (let i = 0; i < 8; i++) {
    const lease = `l${i}`;
    sent.set(lease, Date.now());
    const r = await client.claim(key(lease), 'unit/0', durationMs);
    expect(r.remainingMs).toBeLessThanOrEqual(durationMs);
    await new Promise((res) => setTimeout(res, 230));
  }
  const lasted = new Map<string, number>();
  const end = Date.now() + 10_000;
  while (lasted.size < sent.size && Date.now() < end) {
    for (const [lease, at] of sent) {
      if (lasted.has(lease)) continue;
      if ((await client.get(key(lease))).holder === null) lasted.set(lease, Date.now() - at);
    }
    await new Promise((res) => setTimeout(res, 10));
  }
  expect(lasted.size).toBe(sent.size);
  expect(Math.min(...lasted.values())).toBeGreaterThanOrEqual(durationMs - 100);
}, 60_000);

it('the time answers count from is the FSM time plus the wall time since it last moved on this node', async () => {
  const { SimClock } = await import('../../clock/clock.ts');
  const { LeaseStateMachine, encodeLeaseCommand } = await import('../../actors/lease-state-machine.ts');
  const clock = new SimClock(50_000);
  const sm = new LeaseStateMachine({}, clock);
  const tick = (index: number, oldTime: number, newTime: number) => sm.apply(index, [encodeLeaseCommand({ op: 'setTime', oldTime, newTime, clientId: 'clock', seq: index })]);
  expect(sm.timeNow()).toBe(0);
  await clock.advance(300);
  expect(sm.timeNow()).toBe(300); // no tick yet: the estimate moves with the wall clock
  tick(1, 0, 1000);
  expect(sm.timeNow()).toBe(1000);
  await clock.advance(700);
  expect(sm.timeNow()).toBe(1700);
  expect(sm.fsm.time()).toBe(1000); // the FSM itself is untouched
  tick(2, 1000, 2000);
  expect(sm.timeNow()).toBe(2000);
});
