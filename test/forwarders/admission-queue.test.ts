import { createActor } from 'xstate';
import { describe, expect, it } from 'vitest';
import { AdmissionQueue, type DropReason, type QueuedCommand } from '../../machines/admission/queue.ts';
import { admissionConfig, laneOf, LANES, type AdmissionOverrides, type Lane } from '../../machines/admission/lanes.ts';
import { admissionModeMachine } from '../../machines/admission/mode-machine.ts';
import { claim, extend, pin, revoke, setTime } from './commands.ts';

// Small watermarks so every behaviour shows with a few hundred commands.
const SMALL: AdmissionOverrides = {
  lanes: {
    clock: { capacity: 4 },
    singular: { capacity: 8 },
    extend: { capacity: 100, admitBelowLoad: 100 },
    revoke: { capacity: 50, admitBelowLoad: 60 },
    claim: { capacity: 100, admitBelowLoad: 40 },
  },
  maxBatchCommands: 10,
  maxBatchBytes: 1000,
  resumeFraction: 0.5,
  rateWindowMs: 100,
  minRetryAfterMs: 1,
  maxRetryAfterMs: 5000,
};

let ids = 0;
function item(lane: Lane, now = 0, deadline = 1_000_000, size = 10): QueuedCommand<number> {
  return { lane, size, deadline, enqueuedAt: now, cancelled: false, payload: ids++ };
}

function queue(config: AdmissionOverrides = SMALL) {
  const dropped: { id: number; why: DropReason }[] = [];
  const q = new AdmissionQueue<number>({ config, onDrop: (i, why) => dropped.push({ id: i.payload, why }) });
  return { q, dropped };
}

describe('admission lanes', () => {
  it('maps commands to lanes: clock > singular > extend > revoke (with pins) > claim', () => {
    expect(LANES).toEqual(['clock', 'singular', 'extend', 'revoke', 'claim']);
    expect(laneOf(setTime(0, 1))).toBe('clock');
    expect(laneOf(claim('c', 'm/0', 'singular-controller'))).toBe('singular');
    expect(laneOf(extend('c', 'm/0', 'singular-controller'))).toBe('singular');
    expect(laneOf(extend('a'))).toBe('extend');
    expect(laneOf(revoke('a'))).toBe('revoke');
    expect(laneOf(pin('a'))).toBe('revoke');
    expect(laneOf(claim('a'))).toBe('claim');
  });

  it('rejects nonsense configuration', () => {
    expect(() => admissionConfig({ lanes: { claim: { capacity: 0 } } })).toThrow(/capacity/);
    expect(() => admissionConfig({ resumeFraction: 2 })).toThrow(/resumeFraction/);
  });
});

describe('AdmissionQueue', () => {
  it('dequeues highest lane first, FIFO within a lane, bounded by count and bytes', () => {
    const { q } = queue();
    const order: number[] = [];
    for (const lane of ['claim', 'extend', 'clock', 'revoke', 'singular', 'extend'] as Lane[]) {
      const it = item(lane);
      order.push(it.payload);
      expect(q.offer(it, 0).admitted).toBe(true);
    }
    const batch = q.takeBatch(1);
    expect(batch.map((b) => b.lane)).toEqual(['clock', 'singular', 'extend', 'extend', 'revoke', 'claim']);
    expect(batch[2].payload).toBe(order[1]); // the first extend before the second

    for (let i = 0; i < 25; i++) q.offer(item('extend'), 0);
    expect(q.takeBatch(1)).toHaveLength(10); // maxBatchCommands
    q.drainAll(1);
    for (let i = 0; i < 5; i++) q.offer(item('extend', 0, 1_000_000, 300), 0);
    expect(q.takeBatch(1)).toHaveLength(3); // 3 × 300 ≤ 1000 bytes
    q.drainAll(1);
    q.offer(item('extend', 0, 1_000_000, 5000), 0);
    expect(q.takeBatch(1)).toHaveLength(1); // an oversize command still goes, alone
  });

  it('sheds claims before extends, with a retry-after hint', () => {
    const { q } = queue();
    const refusedAt: Partial<Record<Lane, number>> = {};
    for (let i = 0; i < 300; i++) {
      for (const lane of ['claim', 'extend'] as Lane[]) {
        const a = q.offer(item(lane), 0);
        if (!a.admitted) {
          refusedAt[lane] ??= i;
          expect(a.retryAfterMs).toBeGreaterThanOrEqual(1);
          expect(a.lane).toBe(lane);
        }
      }
    }
    expect(refusedAt.claim).toBeDefined();
    expect(refusedAt.extend).toBeDefined();
    expect(refusedAt.claim!).toBeLessThan(refusedAt.extend!);
    const m = q.metrics(0);
    expect(m.depth.claim).toBe(20); // load hit the claim mark (40) with 20 claims + 20 extends
    expect(m.load).toBe(100); // the extend mark
    expect(m.shedding).toEqual(['extend', 'revoke', 'claim']);
    expect(m.shed.claim).toBeGreaterThan(m.shed.extend);
  });

  it('keeps the clock lane open under full load and out of the load count', () => {
    const { q } = queue();
    for (let i = 0; i < 500; i++) q.offer(item(i % 2 ? 'claim' : 'extend'), 0);
    expect(q.offer(item('claim'), 0).admitted).toBe(false);
    const loadBefore = q.metrics(0).load;
    expect(q.offer(item('clock'), 0).admitted).toBe(true);
    expect(q.metrics(0).load).toBe(loadBefore);
    expect(q.takeBatch(1)[0].lane).toBe('clock');
    // Bounded too, against a runaway clock updater.
    for (let i = 0; i < 4; i++) q.offer(item('clock'), 0);
    expect(q.offer(item('clock'), 0)).toMatchObject({ admitted: false, reason: 'lane-full' });
  });

  it('stays within its bounds whatever is offered (bounded memory)', () => {
    const { q } = queue({ ...SMALL, maxQueuedBytes: 5000 });
    const lanes: Lane[] = ['singular', 'extend', 'revoke', 'claim'];
    for (let i = 0; i < 100_000; i++) q.offer(item(lanes[i % 4], 0, Infinity, 20 + (i % 50)), 0);
    const m = q.metrics(0);
    expect(m.queuedBytes).toBeLessThanOrEqual(5000);
    expect(m.peakLoad).toBeLessThanOrEqual(100 + 8);
    for (const lane of lanes) expect(m.depth[lane]).toBeLessThanOrEqual(admissionConfig(SMALL).lanes[lane].capacity);
  });

  it('never returns a command whose deadline passed or whose caller cancelled', () => {
    const { q, dropped } = queue();
    const late = item('extend', 0, 50);
    const cancelled = item('extend', 0, 1000);
    const live = item('claim', 0, 1000);
    for (const it of [late, cancelled, live]) q.offer(it, 0);
    cancelled.cancelled = true;
    const batch = q.takeBatch(50); // deadline 50 has passed at 50
    expect(batch.map((b) => b.payload)).toEqual([live.payload]);
    expect(dropped).toEqual([
      { id: late.payload, why: 'expired' },
      { id: cancelled.payload, why: 'cancelled' },
    ]);
    expect(q.metrics(50)).toMatchObject({ expired: 1, cancelled: 1, load: 0 });
  });

  it('purges expired commands and reports the next deadline to sweep at', () => {
    const { q, dropped } = queue();
    q.offer(item('claim', 0, 10), 0);
    q.offer(item('claim', 0, 30), 0);
    q.offer(item('extend', 0, 20), 0);
    expect(q.purge(15)).toEqual({ removed: 1, nextDeadline: 20 });
    expect(q.purge(40)).toEqual({ removed: 2, nextDeadline: Infinity });
    expect(dropped.map((d) => d.why)).toEqual(['expired', 'expired', 'expired']);
  });

  it('makes room by purging expired commands before refusing', () => {
    const { q } = queue();
    for (let i = 0; i < 40; i++) q.offer(item('claim', 0, 10), 0);
    expect(q.offer(item('claim', 5), 5).admitted).toBe(false);
    expect(q.offer(item('claim', 10), 10).admitted).toBe(true); // the 40 expired at 10 and were purged
  });

  it("refuses a command the queue could not reach before its caller's deadline (too-slow), admits one that can wait", () => {
    const { q } = queue();
    // Establish a drain rate: 20 commands leave in the first 20 ms (≈ 1 per ms).
    for (let i = 0; i < 20; i++) expect(q.offer(item('extend'), 0).admitted).toBe(true);
    q.takeBatch(10);
    q.takeBatch(20);
    for (let i = 0; i < 30; i++) expect(q.offer(item('extend', 20), 20).admitted).toBe(true);
    const rate = q.metrics(20).serviceRatePerSec! / 1000; // commands per busy ms: 20 left in 20 busy ms
    expect(rate).toBeCloseTo(1, 5);
    const wait = 30 / rate; // 30 extends ahead
    const hasty = q.offer(item('extend', 20, 20 + wait / 2), 20);
    expect(hasty).toMatchObject({ admitted: false, reason: 'too-slow', lane: 'extend' });
    expect((hasty as { retryAfterMs: number }).retryAfterMs).toBeGreaterThan(0);
    expect(q.offer(item('extend', 20, 20 + wait * 2), 20).admitted).toBe(true);
    // Higher lanes do not wait behind lower ones: a singular command with the same short budget is admitted.
    expect(q.offer(item('singular', 20, 20 + wait / 2), 20).admitted).toBe(true);
  });

  it('derives retry-after from the service rate and the excess load', () => {
    const { q } = queue();
    for (let i = 0; i < 40; i++) q.offer(item('claim', 0), 0);
    // Nothing has drained yet: the hint is the maximum (Raft may be stalled).
    const stalled = q.offer(item('claim', 0), 0);
    expect(stalled).toMatchObject({ admitted: false, reason: 'shedding', retryAfterMs: 5000 });
    // 10 commands leave in 50 ms of busy queue: 0.2 per ms. Load 30 ≥ resume mark 20: 11 must leave → 55 ms.
    q.takeBatch(50);
    const hinted = q.offer(item('claim', 50), 50);
    expect(hinted).toMatchObject({ admitted: false, reason: 'shedding', retryAfterMs: 55 });
  });

  it('judges a burst after an idle spell by the rate the queue drains at while busy, not over wall time', () => {
    const { q } = queue();
    // 20 commands leave within 2 ms of busy queue (10 per ms), then the queue idles.
    for (let i = 0; i < 20; i++) q.offer(item('extend', 0), 0);
    q.takeBatch(1);
    q.takeBatch(2);
    // 88 ms later a burst of 30 arrives, each caller waiting 20 ms more. Over the 100 ms window's
    // wall time the drain rate is 0.2 per ms (150 ms for 30 ahead), but the queue serves 10 per ms.
    const m = q.metrics(90);
    expect(m.drainPerSec).toBeCloseTo(200, 5);
    expect(m.serviceRatePerSec).toBeCloseTo(10_000, 5);
    for (let i = 0; i < 30; i++) expect(q.offer(item('extend', 90, 110), 90)).toEqual({ admitted: true });
    // Still refused when it truly cannot be reached: 30 ahead at 10 per ms is 3 ms, a 2 ms budget is too short.
    expect(q.offer(item('extend', 90, 92), 90)).toMatchObject({ admitted: false, reason: 'too-slow' });
  });

  it('reports the same rate over busy and wall time while the queue never empties', () => {
    const { q } = queue();
    let t = 0;
    for (let i = 0; i < 25; i++) q.offer(item('revoke', t), t);
    for (t = 10; t <= 200; t += 10) {
      q.takeBatch(t); // 10 leave every 10 ms …
      for (let i = 0; i < 10; i++) q.offer(item('revoke', t), t); // … and 10 arrive: never empty
    }
    const m = q.metrics(200);
    expect(m.drainPerSec).toBeCloseTo(1000, 5);
    // Equal up to the window's edge: the wall-time meter divides by its whole window, the busy one
    // by the time elapsed in it (90 of 100 ms here).
    expect(m.serviceRatePerSec! / m.drainPerSec).toBeGreaterThan(0.9);
    expect(m.serviceRatePerSec! / m.drainPerSec).toBeLessThan(1.15);
  });

  it('recovers once load falls below the resume mark (hysteresis)', () => {
    const { q } = queue();
    for (let i = 0; i < 60; i++) q.offer(item('claim', 0), 0);
    expect(q.shedding()).toEqual(['claim']);
    q.takeBatch(1); // load 30: still above resume mark 20
    expect(q.offer(item('claim', 1), 1).admitted).toBe(false);
    q.takeBatch(2);
    q.takeBatch(3); // load 10
    expect(q.shedding()).toEqual([]);
    expect(q.offer(item('claim', 3), 3).admitted).toBe(true);
  });

  it('records batch sizes and enqueue-to-commit latency', () => {
    const { q } = queue();
    for (let i = 0; i < 15; i++) q.offer(item('extend', 0), 0);
    const first = q.takeBatch(5);
    for (const it of first) q.recordCommitted(it, 8);
    q.takeBatch(9);
    const m = q.metrics(9);
    expect(m).toMatchObject({ batches: 2, batchedCommands: 15, maxBatch: 10, lastBatch: 5 });
    expect(m.commitLatency.count).toBe(10);
    expect(m.commitLatency.maxMs).toBe(8);
    expect(m.commitLatency.p99Ms).toBeGreaterThanOrEqual(4);
    expect(m.drainPerSec).toBeGreaterThan(0);
  });
});

describe('admission mode machine', () => {
  it('moves open → shedding → open on pressure events, counting episodes', () => {
    const actor = createActor(admissionModeMachine).start();
    actor.send({ type: 'PRESSURE', shedding: ['claim'], at: 5 });
    expect(actor.getSnapshot().value).toBe('shedding');
    actor.send({ type: 'PRESSURE', shedding: ['extend', 'claim'], at: 6 });
    expect(actor.getSnapshot().context).toMatchObject({ shedding: ['extend', 'claim'], since: 5, episodes: 1 });
    actor.send({ type: 'PRESSURE', shedding: [], at: 9 });
    expect(actor.getSnapshot().value).toBe('open');
    expect(actor.getSnapshot().context).toMatchObject({ shedding: [], since: 9, episodes: 1 });
    actor.stop();
  });
});
