import { describe, expect, it } from 'vitest';
import { EventPublisher } from '../../actors/event-publisher.ts';
import type { LeaseStateMachine, AppliedListener } from '../../actors/lease-state-machine.ts';
import type { LeadershipSource } from '../../actors/leadership-feed.ts';
import type { Bus } from '../../bus/types.ts';
import type { Encoded } from '../../bus/codec.ts';
import type { LeaseEvent } from '../../lease/types.ts';

/**
 * The leader's event queue is bounded (`maxQueue`), but a burst larger than the bound — one clock
 * tick expiring more leases than that, e.g. 23,000 a second in a closed claim run of 5 s leases —
 * is not a publisher that cannot keep up: the leader can still write every event. Found by the
 * bench's NATS account (docs/benchmarks.md, twenty-seventh session): before, the oldest events of
 * such a burst were dropped (`dropped`), ≈ 13,000 expiries a second never reached subscribers.
 */
function harness(maxQueue: number, publishFails = false) {
  let applied: AppliedListener = () => {};
  const stateMachine = { onApplied: (l: AppliedListener) => ((applied = l), () => {}) } as unknown as LeaseStateMachine;
  const leadership: LeadershipSource = { current: { role: 'leader', leader: 'n1', term: 1 }, subscribe: () => () => {} };
  const published: Array<{ subject: string; payload: { kind: string; lease: string; index: number; n: number } }> = [];
  const bus = {
    publish(subject: string, payload: unknown) {
      if (publishFails) throw new Error('connection closed');
      // Decoded at once: the wire form is JSON bytes in a shared slab.
      published.push({ subject, payload: JSON.parse(Buffer.from((payload as Encoded).bytes).toString('utf8')) });
    },
    flush: async () => {},
  } as unknown as Bus;
  const pub = new EventPublisher({ cluster: 'burst', bus, stateMachine, leadership, mode: 'leader', maxQueue });
  return { pub, published, apply: (index: number, events: LeaseEvent[]) => applied(index, events) };
}

const expired = (i: number): LeaseEvent => ({ kind: 'expired', key: { namespace: 'ns', model: 'm', lease: `l${i}` }, holder: 'h', expiry: 1000, token: i + 1, index: 7 });

async function until(cond: () => boolean, ms = 5000): Promise<void> {
  const end = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > end) throw new Error('timed out');
    await new Promise((r) => setImmediate(r));
  }
}

describe('event publisher: a burst beyond the queue bound', () => {
  it('publishes every event of the burst, once and in order, and keeps no more than the bound queued', async () => {
    const { pub, published, apply } = harness(1_000);
    pub.start();
    await until(() => pub.state === 'active');
    apply(7, Array.from({ length: 12_000 }, (_, i) => expired(i)));
    expect(pub.queued).toBeLessThanOrEqual(1_000);
    await until(() => pub.queued === 0);
    expect(published).toHaveLength(12_000);
    expect(published.map((p) => p.payload.n)).toEqual(Array.from({ length: 12_000 }, (_, i) => i));
    expect(published.every((p, i) => p.payload.kind === 'expired' && p.payload.lease === `l${i}` && p.payload.index === 7)).toBe(true);
    expect(published[0].subject).toBe('tenure.v1.burst.events.ns.m.l0');
    expect(pub.counters).toMatchObject({ published: 12_000, dropped: 0, publishErrors: 0 });
    await pub.stop();
  });

  it('bursts within the bound still go out over later turns, not inside apply', async () => {
    const { pub, published, apply } = harness(1_000);
    pub.start();
    await until(() => pub.state === 'active');
    apply(8, Array.from({ length: 800 }, (_, i) => expired(i)));
    expect(published).toHaveLength(0);
    await until(() => pub.queued === 0);
    expect(published).toHaveLength(800);
    await pub.stop();
  });

  it('an event whose publish fails is counted, and the queue still stays within its bound', async () => {
    const { pub, apply } = harness(100, true);
    pub.start();
    await until(() => pub.state === 'active');
    apply(9, Array.from({ length: 500 }, (_, i) => expired(i)));
    expect(pub.queued).toBeLessThanOrEqual(100);
    await until(() => pub.queued === 0);
    expect(pub.counters.published).toBe(0);
    expect(pub.counters.publishErrors).toBe(500);
    await pub.stop();
  });
});

describe('event publisher: a burst whose forced publishing throws', () => {
  it('never throws into the apply that made it: counted, logged, and the queue kept within its bound', async () => {
    let applied: AppliedListener = () => {};
    const stateMachine = { onApplied: (l: AppliedListener) => ((applied = l), () => {}) } as unknown as LeaseStateMachine;
    const leadership: LeadershipSource = { current: { role: 'leader', leader: 'n1', term: 1 }, subscribe: () => () => {} };
    // A NATS bus whose protocol handler fails when handed a run of whole messages (the frame path).
    const protocol = { info: { headers: true, max_payload: 1 << 20 }, noMorePublishing: false, outBytes: 0, outMsgs: 0, sendCommand: () => { throw new Error('socket gone'); } };
    const bus = { frameTarget: { nc: { isClosed: () => false }, protocol }, publish() {}, flush: async () => {} } as unknown as Bus;
    const pub = new EventPublisher({ cluster: 'burst', bus, stateMachine, leadership, mode: 'leader', maxQueue: 100 });
    pub.start();
    await until(() => pub.state === 'active');
    expect(() => applied(10, Array.from({ length: 500 }, (_, i) => expired(i)))).not.toThrow();
    expect(pub.queued).toBeLessThanOrEqual(100);
    expect(pub.counters.publishErrors).toBeGreaterThanOrEqual(1);
    await pub.stop({ publishQueued: false });
  });
});
