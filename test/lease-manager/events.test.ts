/**
 * Event publishing: a subscriber on `….events.>` sees every lease change exactly once and in Raft
 * order, including across a leader failover (the leader node is stopped mid-run). The reference
 * is the event list a surviving node's FSM produced.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { TenureClient, WireEvent } from '../../client/tenure-client.ts';
import type { LeaseEvent } from '../../lease/types.ts';
import { NS, TestCluster, delay, eventually } from './harness.ts';

const tc = new TestCluster('events', ['n1', 'n2', 'n3', 'n4', 'n5']);
const applied = new Map<string, { index: number; n: number; kind: string; lease: string }[]>();
let a: TenureClient;
let b: TenureClient;
const seen: WireEvent[] = [];

beforeAll(async () => {
  await tc.startAll();
  for (const node of tc.running()) {
    const list: { index: number; n: number; kind: string; lease: string }[] = [];
    applied.set(node.id, list);
    node.stateMachine.onApplied((index, events: LeaseEvent[]) => {
      events.forEach((e, n) => list.push({ index, n, kind: e.kind, lease: e.key.lease }));
    });
  }
  await tc.leader();
  a = await tc.client();
  b = await tc.client();
  const watcher = await tc.client();
  watcher.watch({}, (e) => seen.push(e));
  await watcher.bus.flush();
});

afterAll(() => tc.shutdown());

async function traffic(round: string): Promise<void> {
  const ops: Promise<unknown>[] = [];
  for (let i = 0; i < 10; i++) {
    const key = { namespace: NS, model: `m-${round}`, lease: `l${i}` };
    ops.push(
      (async () => {
        await a.claim(key, 'a/0', 3000); // not so short that the extend below can find it expired on a loaded machine
        await b.claim(key, 'b/0', 5000).catch(() => {}); // Held
        await a.extend(key, 'a/0', 5000);
        if (i % 3 === 0) await a.pin(key, 'machine-0');
        if (i % 3 === 0) await a.unpin(key, 'machine-0');
        if (i % 2 === 0) await a.revoke(key, 'a/0');
      })(),
    );
  }
  // Leases left to expire.
  for (let i = 0; i < 5; i++) ops.push(b.claim({ namespace: NS, model: `x-${round}`, lease: `e${i}` }, 'b/0', 200));
  await Promise.all(ops);
}

function summary(e: { index: number; n: number; kind: string; lease: string }): string {
  return `${e.index}/${e.n}/${e.kind}/${e.lease}`;
}

describe('lease events', () => {
  it('are seen exactly once and in order, across a leader failover', async () => {
    await traffic('before');
    const oldLeader = await tc.leader();
    const survivor = tc.running().find((n) => n !== oldLeader)!;
    const reference = applied.get(survivor.id)!;
    // Wait until the expiries happened and everything so far reached the subscriber.
    await delay(600);
    await eventually(() => seen.length >= reference.length && seen.length > 0, 10_000, 'events before failover');

    await tc.stop(oldLeader.id);
    await tc.leader();
    await traffic('after');
    await delay(600);
    await eventually(() => seen.length >= reference.length, 10_000, 'events after failover');
    await delay(300); // anything extra (a duplicate) would arrive now

    const got = seen.map(summary);
    const want = reference.map(summary);
    expect(new Set(got).size).toBe(got.length); // no duplicates
    expect(got).toEqual(want); // no gaps, Raft order
    const indexes = seen.map((e) => e.index * 1000 + e.n);
    expect([...indexes].sort((x, y) => x - y)).toEqual(indexes);
    expect(seen.some((e) => e.kind === 'expired')).toBe(true);
    expect(seen.some((e) => e.kind === 'pinned')).toBe(true);
    expect(reference.some((e) => e.index > (applied.get(oldLeader.id)!.at(-1)?.index ?? 0))).toBe(true);
  });

  it('a new leader publishes what a crashed leader applied but never published', async () => {
    const oldLeader = await tc.leader();
    const survivor = tc.running().find((n) => n !== oldLeader)!;
    const reference = applied.get(survivor.id)!;
    const before = seen.length;
    // The leader's publisher dies (as in a crash between apply and publish); Raft goes on.
    await oldLeader.events.stop({ publishQueued: false });
    await traffic('muted');
    await delay(600);
    await eventually(() => tc.running().every((n) => n.raft.appliedIndex === oldLeader.raft.appliedIndex), 5000, 'replication');
    expect(seen.length).toBe(before); // nobody published them
    await tc.stop(oldLeader.id);
    const newLeader = await tc.leader();
    await eventually(() => seen.length >= reference.length, 10_000, 'republished events');
    await delay(300);
    expect(seen.map(summary)).toEqual(reference.map(summary));
    expect(newLeader.events.counters.resumes).toBeGreaterThan(0);
  });

  it('carries the documented fields', () => {
    const claimed = seen.find((e) => e.kind === 'claimed')!;
    expect(Object.keys(claimed).sort()).toEqual(['expiry', 'holder', 'index', 'kind', 'lease', 'model', 'n', 'namespace', 'token']);
    const pinned = seen.find((e) => e.kind === 'pinned')!;
    expect(pinned).toMatchObject({ entity: 'machine-0', pinnedBy: ['machine-0'] });
  });

  it('a burst of thousands of expiries reaches subscribers complete and in order (published over several turns)', async () => {
    const leader = await tc.leader();
    const reference = applied.get(leader.id)!;
    const from = reference.length;
    const keys = Array.from({ length: 3000 }, (_, i) => ({ namespace: NS, model: 'burst', lease: `b${String(i).padStart(4, '0')}` }));
    await Promise.all(keys.map((key) => a.claim(key, 'a/0', 300)));
    const expired = () => seen.filter((e) => e.model === 'burst' && e.kind === 'expired');
    await eventually(() => expired().length >= keys.length, 15_000, 'every expiry published');
    await delay(300);
    // All, once each; within one tick in order of expiry, then token (the claims may straddle two ticks).
    expect(expired().map((e) => e.lease).sort()).toEqual(keys.map((k) => k.lease));
    const byTick = new Map<number, { expiry: number; token: number }[]>();
    for (const e of expired()) byTick.set(e.index, [...(byTick.get(e.index) ?? []), { expiry: e.expiry!, token: e.token! }]);
    for (const leases of byTick.values()) expect(leases).toEqual([...leases].sort((x, y) => x.expiry - y.expiry || x.token - y.token));
    const want = reference.slice(from).filter((e) => e.lease.startsWith('b')).map(summary);
    expect(seen.filter((e) => e.model === 'burst').map(summary)).toEqual(want);
    expect(leader.events.counters.dropped).toBe(0);
  });
});
