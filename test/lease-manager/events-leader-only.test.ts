/**
 * Leader-only event publishing on real NATS (no JetStream: the mode `tenure bench` runs, where the
 * leader writes events as whole messages in runs — actors/event-frames.ts). Without a failover a
 * subscriber sees exactly the leader's applied events, once each and in Raft order, including pin
 * events (which take the usual publish between runs) and a burst of expiries drained over several
 * turns.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { TenureClient, WireEvent } from '../../client/tenure-client.ts';
import type { LeaseEvent } from '../../lease/types.ts';
import type { TenureNode } from '../../node/tenure-node.ts';
import { NS, TestCluster, delay, eventually } from './harness.ts';

const tc = new TestCluster('evlo', ['n1', 'n2', 'n3'], { events: 'leader' });
const applied: string[] = [];
const seen: WireEvent[] = [];
let leader: TenureNode;
let a: TenureClient;

const summary = (e: { index: number; n: number; kind: string; lease: string }) => `${e.index}/${e.n}/${e.kind}/${e.lease}`;

beforeAll(async () => {
  await tc.startAll();
  leader = await tc.leader();
  leader.stateMachine.onApplied((index, events: LeaseEvent[]) => {
    events.forEach((e, n) => applied.push(summary({ index, n, kind: e.kind, lease: e.key.lease })));
  });
  a = await tc.client();
  const watcher = await tc.client();
  watcher.watch({}, (e) => seen.push(e));
  await watcher.bus.flush();
});

afterAll(() => tc.shutdown());

describe('lease events, leader-only mode on NATS', () => {
  it('reach a subscriber exactly once and in Raft order, pins and expiry bursts included', async () => {
    expect(leader.events.publishMode).toBe('leader');
    const ops: Promise<unknown>[] = [];
    for (let i = 0; i < 20; i++) {
      const key = { namespace: NS, model: 'lo', lease: `l${i}` };
      ops.push(
        (async () => {
          // Long enough that the extend cannot miss it, however long the 2,000-claim burst below
          // keeps it queued (a 300 ms claim expired first on a loaded CI machine: NotHeld).
          await a.claim(key, 'a/0', 30_000);
          await a.extend(key, 'a/0', 60_000);
          if (i % 3 === 0) await a.pin(key, 'machine-0');
          if (i % 3 === 0) await a.unpin(key, 'machine-0');
          if (i % 2 === 0) await a.revoke(key, 'a/0');
        })(),
      );
    }
    // A burst that expires together: more events than one drain's run.
    ops.push(...Array.from({ length: 2000 }, (_, i) => a.claim({ namespace: NS, model: 'burst', lease: `b${i}` }, 'a/0', 200)));
    await Promise.all(ops);
    await eventually(() => applied.filter((s) => s.includes('/expired/b')).length >= 2000, 10_000, 'expiries applied');
    await eventually(() => seen.length >= applied.length, 10_000, 'events published');
    await delay(300); // a duplicate would arrive now
    const got = seen.map(summary);
    expect(new Set(got).size).toBe(got.length);
    expect(got).toEqual(applied);
    expect(seen.some((e) => e.kind === 'pinned')).toBe(true);
    expect(seen.filter((e) => e.kind === 'expired').length).toBeGreaterThanOrEqual(2000);
    expect(leader.events.counters.published).toBe(applied.length);
    expect(leader.events.counters.publishErrors).toBe(0);
  });
});
