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
type Published = { subject: string; payload: { kind: string; lease: string; index: number; n: number } };

function harness(maxQueue: number, publishFails = false) {
  let applied: AppliedListener = () => {};
  const stateMachine = { onApplied: (l: AppliedListener) => ((applied = l), () => {}) } as unknown as LeaseStateMachine;
  const leadership: LeadershipSource = { current: { role: 'leader', leader: 'n1', term: 1 }, subscribe: () => () => {} };
  const published: Published[] = [];
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

const expired = (i: number, index = 7): LeaseEvent => ({ kind: 'expired', key: { namespace: 'ns', model: 'm', lease: `l${i}` }, holder: 'h', expiry: 1000, token: i + 1, index });

async function until(cond: () => boolean, ms = 5000): Promise<void> {
  const end = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > end) throw new Error('timed out');
    await new Promise((r) => setImmediate(r));
  }
}

describe('event publisher: a burst beyond the queue bound', () => {
  it('publishes every event of the burst, once and in order, over later turns (none inside the apply)', async () => {
    const { pub, published, apply } = harness(1_000);
    pub.start();
    await until(() => pub.state === 'active');
    apply(7, Array.from({ length: 12_000 }, (_, i) => expired(i)));
    expect(published).toHaveLength(0);
    expect(pub.queued).toBe(12_000);
    await until(() => pub.queued === 0);
    expect(published).toHaveLength(12_000);
    expect(published.map((p) => p.payload.n)).toEqual(Array.from({ length: 12_000 }, (_, i) => i));
    expect(published.every((p, i) => p.payload.kind === 'expired' && p.payload.lease === `l${i}` && p.payload.index === 7)).toBe(true);
    expect(published[0].subject).toBe('tenure.v1.burst.events.ns.m.l0');
    expect(pub.counters).toMatchObject({ published: 12_000, dropped: 0, publishErrors: 0 });
    await pub.stop();
  });

  it('a backlog beyond the bound when the next burst arrives is published at once, oldest first; the queue holds the bound plus one burst', async () => {
    const { pub, published, apply } = harness(1_000);
    pub.start();
    await until(() => pub.state === 'active');
    // Two applies in one turn: nothing drained between them.
    apply(7, Array.from({ length: 1_500 }, (_, i) => expired(i, 7)));
    apply(8, Array.from({ length: 3_000 }, (_, i) => expired(i, 8)));
    // The 1,500 of the first apply are the backlog; what of it lies beyond the bound (500) leaves at once.
    expect(published.map((p) => `${p.payload.index}/${p.payload.n}`)).toEqual(Array.from({ length: 500 }, (_, i) => `7/${i}`));
    expect(pub.queued).toBe(1_000 + 3_000);
    await until(() => pub.queued === 0);
    expect(published).toHaveLength(4_500);
    expect(published.map((p) => p.payload.index * 10_000 + p.payload.n)).toEqual([...published.map((p) => p.payload.index * 10_000 + p.payload.n)].sort((a, b) => a - b));
    expect(pub.counters).toMatchObject({ published: 4_500, dropped: 0 });
    await pub.stop();
  });

  it('an event whose publish fails is counted; nothing is published twice', async () => {
    const { pub, apply } = harness(100, true);
    pub.start();
    await until(() => pub.state === 'active');
    apply(9, Array.from({ length: 500 }, (_, i) => expired(i)));
    await until(() => pub.queued === 0);
    expect(pub.counters.published).toBe(0);
    expect(pub.counters.publishErrors).toBe(500);
    await pub.stop();
  });
});

describe('event publisher: the frame path throwing mid-run', () => {
  it('never throws into the apply or the event loop: counted, and the rest still goes out without repeating the failed run', async () => {
    let applied: AppliedListener = () => {};
    const stateMachine = { onApplied: (l: AppliedListener) => ((applied = l), () => {}) } as unknown as LeaseStateMachine;
    const leadership: LeadershipSource = { current: { role: 'leader', leader: 'n1', term: 1 }, subscribe: () => () => {} };
    // A NATS bus whose protocol handler refuses the first run of whole messages handed to it.
    const runs: number[] = [];
    let failed = 0;
    let calls = 0;
    const messages = (cmd: Uint8Array) => Buffer.from(cmd).toString('latin1').split('HPUB ').length - 1;
    const protocol = {
      info: { headers: true, max_payload: 1 << 20 },
      noMorePublishing: false,
      outBytes: 0,
      outMsgs: 0,
      sendCommand(cmd: Uint8Array) {
        if (calls++ === 0) {
          failed = messages(cmd);
          throw new Error('socket gone');
        }
        runs.push(messages(cmd));
      },
    };
    const bus = { frameTarget: { nc: { isClosed: () => false }, protocol }, publish() {}, flush: async () => {} } as unknown as Bus;
    const pub = new EventPublisher({ cluster: 'burst', bus, stateMachine, leadership, mode: 'leader', maxQueue: 100 });
    pub.start();
    await until(() => pub.state === 'active');
    expect(() => applied(10, Array.from({ length: 500 }, (_, i) => expired(i)))).not.toThrow();
    expect(() => applied(11, Array.from({ length: 500 }, (_, i) => expired(i, 11)))).not.toThrow();
    await until(() => pub.queued === 0);
    expect(pub.counters.publishErrors).toBe(1);
    // Lost: the events written into the refused run (counted as written) and the one being written
    // when it was refused (the publish error); everything else went out exactly once.
    const sent = runs.reduce((a, b) => a + b, 0);
    expect(failed).toBeGreaterThan(0);
    expect(sent + failed).toBe(pub.counters.published);
    expect(sent + failed + pub.counters.publishErrors).toBe(1_000);
    expect(pub.counters.dropped).toBe(0);
    await pub.stop({ publishQueued: false });
  });
});
