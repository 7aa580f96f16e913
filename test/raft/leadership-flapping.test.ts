import { afterEach, expect, it } from 'vitest';
import { SimCluster } from '../sim/cluster.ts';
import type { Leadership } from '../../actors/raft-node.ts';

let cluster: SimCluster | null = null;
afterEach(async () => {
  await cluster?.shutdown();
  cluster = null;
});

/**
 * Nomad PR 6977: Raft must never wait for whoever consumes leadership changes. Leadership flaps
 * hundreds of times while the consumer of n1's mailbox takes one value per simulated second.
 */
it('never blocks on a slow leadership consumer and ends with the latest state', async () => {
  const c = (cluster = new SimCluster(3, ['n1', 'n2', 'n3']));
  await c.startAll();
  const n1 = c.node('n1');
  const seen: Leadership[] = [];
  let stop = false;
  (async () => {
    while (!stop) {
      const v = await n1.leadership.take();
      seen.push(v);
      await new Promise<void>((r) => c.clock.setTimeout(r, 1000)); // a deliberately slow consumer
    }
  })();

  const enc = new TextEncoder();
  let changes = 0;
  let lastKey = '';
  let committedDuringFlap = 0;
  for (let round = 0; round < 400 && changes < 300; round++) {
    const ids = ['n1', 'n2', 'n3'];
    const next = c.node(ids[round % 3]);
    next.campaign(); // force an election (as leadership transfer does)
    await c.run(30);
    const leader = c.leaders()[0];
    if (leader) leader.propose(enc.encode(`p${round}`)).then(() => committedDuringFlap++, () => {});
    await c.run(30);
    const key = `${n1.role}/${n1.leader}/${n1.term}`;
    if (key !== lastKey) changes++;
    lastKey = key;
  }
  await c.run(2000);
  stop = true;
  expect(changes).toBeGreaterThanOrEqual(200);
  // Raft kept working: elections completed and proposals committed throughout.
  expect(n1.term).toBeGreaterThan(200);
  expect(committedDuringFlap).toBeGreaterThan(50);
  // The consumer skipped intermediate values but its last view is the current state.
  await c.run(1500);
  const last = seen[seen.length - 1];
  expect(seen.length).toBeLessThan(changes);
  expect(n1.leadership.dropped).toBeGreaterThan(0);
  const latest = n1.leadership.peek()!;
  expect(latest).toEqual({ role: n1.role, leader: n1.leader, term: n1.term });
  expect([last.term, latest.term]).toContain(n1.term);
  expect(c.checker.violations).toEqual([]);
});
