/**
 * A stalled event loop is not a dead leader. When a process stalls for longer than the election
 * timeout (a long synchronous burst, a GC pause, a starved CPU), every timer that came due during
 * the stall fires before the messages that queued up in the meantime are read. A follower must not
 * campaign, and a leader must not step down, on that evidence alone.
 */
import { afterAll, beforeAll, expect, it } from 'vitest';
import { TestCluster, delay } from '../lease-manager/harness.ts';

// Defaults for the Raft node: election timeout 300–600 ms, heartbeat 50 ms.
const tc = new TestCluster('stall', ['n1', 'n2', 'n3']);

beforeAll(async () => {
  await tc.startAll();
  await tc.leader();
});

afterAll(() => tc.shutdown());

function busyFor(ms: number): void {
  const end = Date.now() + ms;
  while (Date.now() < end) {
    // the whole process (all three nodes) stalls
  }
}

it('a whole-process stall longer than the election timeout causes no election', async () => {
  const leader = await tc.leader();
  const term = leader.raft.term;
  // Stalls start at every phase of the timers: gaps of 0–9 ms between them.
  for (let i = 0; i < 14; i++) {
    busyFor(i % 2 ? 350 : 650);
    await delay(i % 10);
  }
  await delay(700);
  expect(tc.running().map((n) => [n.raft.term, n.raft.leader])).toEqual(tc.running().map(() => [term, leader.id]));
});

it('a leader that is really gone is still replaced when the survivors stall', async () => {
  const old = await tc.leader();
  const term = old.raft.term;
  await tc.stop(old.id);
  busyFor(900);
  const next = await tc.leader(10_000);
  expect(next.id).not.toBe(old.id);
  expect(next.raft.term).toBeGreaterThan(term);
});
