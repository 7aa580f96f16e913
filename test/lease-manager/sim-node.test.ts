/**
 * The same TenureNode on the simulated bus and clock (no NATS, no micro service, leader-only
 * events): deterministic time makes expiry exact — a lease claimed for 1000 ms expires on the
 * first setTime whose new time is past its expiry, and the waiter wakes on that entry.
 */
import { afterAll, describe, expect, it } from 'vitest';
import { SimClock } from '../../clock/clock.ts';
import { SimNetwork } from '../../bus/sim-bus.ts';
import { MemoryStorage } from '../../storage/memory.ts';
import { TenureNode } from '../../node/tenure-node.ts';
import { TenureClient } from '../../client/tenure-client.ts';
import type { WireEvent } from '../../actors/event-publisher.ts';

const clock = new SimClock(0);
const net = new SimNetwork({ seed: 7, clock });
const ids = ['s1', 's2', 's3'];
const nodes = ids.map(
  (id) => new TenureNode({ id, cluster: 'sim', voters: ids, bus: net.endpoint(id), storage: new MemoryStorage(), clock, clockIntervalMs: 100 }),
);

/** Runs simulated time until `p` settles (at most `limitMs` of simulated time). */
async function run<T>(p: Promise<T>, limitMs = 30_000): Promise<T> {
  let done = false;
  p.then(
    () => (done = true),
    () => (done = true),
  );
  const end = clock.now() + limitMs;
  while (!done && clock.now() < end) await clock.advance(5);
  return p;
}

afterAll(async () => {
  for (const n of nodes) await n.stop();
});

describe('TenureNode on the simulated network', () => {
  it('elects a leader, serves claims, wakes a waiter exactly at expiry and publishes events', async () => {
    await Promise.all(nodes.map((n) => n.start()));
    const leader = await run(
      (async () => {
        for (;;) {
          const l = nodes.find((n) => n.raft.role === 'leader');
          if (l && nodes.every((n) => n.raft.leader === l.id)) return l;
          await new Promise((r) => clock.setTimeout(() => r(undefined), 10));
        }
      })(),
    );
    expect(leader.events.publishMode).toBe('leader');

    const client = new TenureClient(net.endpoint('client'), { cluster: 'sim' });
    const events: WireEvent[] = [];
    client.watch({ namespace: 'ns' }, (e) => events.push(e));
    const key = { namespace: 'ns', model: 'm', lease: 'l' };
    const claimed = await run(client.claim(key, 'h/0', 1000));
    await expect(run(client.claim(key, 'h/1', 1000))).rejects.toMatchObject({ code: 'Held', details: { holder: 'h/0' } });

    const waited = await run(client.wait(key, { deadlineMs: 10_000 }));
    expect(waited).toMatchObject({ free: true, reason: 'expired' });
    // Expired on the first advance past the expiry: global time is now in (expiry, expiry + one interval].
    const time = leader.stateMachine.fsm.time();
    expect(time).toBeGreaterThan(claimed.expiry);
    expect(time).toBeLessThanOrEqual(claimed.expiry + 150);

    await run(new Promise((r) => clock.setTimeout(() => r(undefined), 50)));
    expect(events.map((e) => e.kind)).toEqual(['claimed', 'expired']);
    expect(events[1].token).toBe(claimed.token);
  });
});
