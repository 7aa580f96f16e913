import { describe, expect, it } from 'vitest';
import { SimClock } from '../../clock/clock.ts';
import { TenureError } from '../../errors/errors.ts';
import { LeaderTracker } from '../../machines/forwarder/leader-tracker.ts';
import { InFlightLimit } from '../../machines/forwarder/in-flight-limit.ts';

async function outcome<T>(p: Promise<T>): Promise<{ ok: true; value: T } | { ok: false; code: string }> {
  try {
    return { ok: true, value: await p };
  } catch (err) {
    return { ok: false, code: err instanceof TenureError ? err.code : String(err) };
  }
}

describe('LeaderTracker', () => {
  it('re-discovers once per generation however many callers fail at once', async () => {
    let discoveries = 0;
    let leader = 'n1';
    let release!: () => void;
    const slow = new Promise<void>((r) => (release = r));
    const tracker = new LeaderTracker({
      discover: async () => {
        discoveries++;
        await slow;
        return leader;
      },
    });
    const first = tracker.current();
    release();
    expect(await first).toEqual({ leader: 'n1', generation: 1 });
    expect(discoveries).toBe(1);

    // Failover: 200 callers all fail against generation 1 at the same moment.
    leader = 'n2';
    const views = await Promise.all(Array.from({ length: 200 }, () => tracker.failed(1)));
    expect(discoveries).toBe(2);
    expect(new Set(views.map((v) => `${v.leader}@${v.generation}`))).toEqual(new Set(['n2@2']));
    expect(tracker.counters.coalescedFailures).toBe(199);

    // A late report about generation 1 changes nothing and discovers nothing.
    expect(await tracker.failed(1)).toEqual({ leader: 'n2', generation: 2 });
    expect(discoveries).toBe(2);
    expect(tracker.actor.getSnapshot().value).toBe('connected');
    tracker.stop();
  });

  it('adopts a NotLeader hint as the re-discovery and follows leadership notifications', async () => {
    let discoveries = 0;
    const tracker = new LeaderTracker({ discover: () => (discoveries++, null) });
    expect(await tracker.current()).toEqual({ leader: null, generation: 1 });
    expect(tracker.actor.getSnapshot().value).toBe('noLeader');
    expect(await tracker.failed(1, 'n3')).toEqual({ leader: 'n3', generation: 2 });
    expect(discoveries).toBe(1);
    tracker.observe('n3'); // no change, no new generation
    expect(tracker.peek()).toEqual({ leader: 'n3', generation: 2 });
    tracker.observe('n1');
    expect(tracker.peek()).toEqual({ leader: 'n1', generation: 3 });
    tracker.stop();
  });
});

describe('InFlightLimit', () => {
  it('bounds requests in flight, queues a bounded number FIFO, refuses the rest with a hint', async () => {
    const clock = new SimClock(0);
    const limit = new InFlightLimit({ clock, maxInFlight: 2, maxWaiting: 2 });
    const a = await limit.acquire(1000);
    const b = await limit.acquire(1000);
    const order: string[] = [];
    const c = limit.acquire(1000).then((r) => (order.push('c'), r));
    const d = limit.acquire(1000).then((r) => (order.push('d'), r));
    const refused = await outcome(limit.acquire(1000));
    expect(refused).toEqual({ ok: false, code: 'Overloaded' });
    await clock.advance(10);
    a();
    a(); // releasing twice frees one slot only
    (await c)();
    b();
    (await d)();
    expect(order).toEqual(['c', 'd']);
    expect(limit.inFlight).toBe(0);
    expect(limit.counters).toMatchObject({ granted: 4, waited: 2, refused: 1 });
  });

  it('gives up a waiting caller at its deadline or when it cancels', async () => {
    const clock = new SimClock(0);
    const limit = new InFlightLimit({ clock, maxInFlight: 1, maxWaiting: 10 });
    const held = await limit.acquire(1000);
    const expires = outcome(limit.acquire(50));
    const ac = new AbortController();
    const cancels = outcome(limit.acquire(1000, ac.signal));
    const patient = limit.acquire(1000);
    ac.abort();
    await clock.advance(60);
    expect(await expires).toEqual({ ok: false, code: 'DeadlineExceeded' });
    expect(await cancels).toEqual({ ok: false, code: 'Cancelled' });
    expect(limit.queued).toBe(1);
    held();
    (await patient)();
    expect(limit.inFlight).toBe(0);
    expect(limit.queued).toBe(0);
  });

  it('answers a waiter Overloaded after maxWaitMs, so a line built in overload empties when load drops', async () => {
    const clock = new SimClock(0);
    const limit = new InFlightLimit({ clock, maxInFlight: 1, maxWaiting: 10, maxWaitMs: 100 });
    const held = await limit.acquire(5000);
    const stale = outcome(limit.acquire(5000));
    const short = outcome(limit.acquire(50)); // its own deadline comes first
    await clock.advance(60);
    expect(await short).toEqual({ ok: false, code: 'DeadlineExceeded' });
    const fresh = limit.acquire(5000);
    await clock.advance(50);
    expect(await stale).toEqual({ ok: false, code: 'Overloaded' });
    held(); // the slot goes to the caller that is still within its wait bound
    (await fresh)();
    expect(limit.queued).toBe(0);
    expect(limit.counters).toMatchObject({ refused: 1, expired: 1 });
  });

  it('carries a retry-after hint when it refuses', async () => {
    const clock = new SimClock(0);
    const limit = new InFlightLimit({ clock, maxInFlight: 1, maxWaiting: 0 });
    const r = await limit.acquire(1000);
    await clock.advance(40);
    r(); // one slot held for 40 ms
    const again = await limit.acquire(1000);
    try {
      await limit.acquire(1000);
      expect.unreachable();
    } catch (err) {
      expect((err as TenureError).code).toBe('Overloaded');
      expect((err as TenureError).details.retryAfterMs).toBe(40);
    }
    again();
  });
});
