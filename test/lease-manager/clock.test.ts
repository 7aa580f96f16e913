/**
 * The clock updater under load: with clients pushing claims as fast as they can (far more than
 * the cluster commits), global time must still advance at least once every 2 s — the Juju failure
 * was clock updates starving behind lease traffic, so nothing ever expired. Asserts behaviour
 * (gaps between advances), not throughput.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { TenureClient } from '../../client/tenure-client.ts';
import { NS, TestCluster, delay } from './harness.ts';

const tc = new TestCluster('clock');

beforeAll(async () => {
  await tc.startAll();
  await tc.leader();
});

afterAll(() => tc.shutdown());

describe('clock updater', () => {
  it('advances global time at least every 2 s under a saturating stream of claims', async () => {
    const clients: TenureClient[] = [];
    for (let i = 0; i < 4; i++) clients.push(await tc.client({ maxAttempts: 1, deadlineMs: 2000 }));
    let stop = false;
    let ok = 0;
    let failed = 0;
    const flood = async (c: TenureClient, worker: number) => {
      for (let i = 0; !stop; i++) {
        try {
          await c.claim({ namespace: NS, model: `w${worker}`, lease: `l${i % 5000}` }, `h${worker}`, 1000);
          ok++;
        } catch {
          failed++;
        }
      }
    };
    const workers = clients.flatMap((c, ci) => Array.from({ length: 150 }, (_, k) => flood(c, ci * 150 + k)));

    // Sample the FSM's time on every node; record the wall time of each advance.
    const leader = await tc.leader();
    let lastTime = leader.stateMachine.fsm.time();
    let lastMove = Date.now();
    let worstGap = 0;
    const started = Date.now();
    while (Date.now() - started < 5000) {
      await delay(25);
      const t = tc.running().find((n) => n.raft.role === 'leader')?.stateMachine.fsm.time() ?? lastTime;
      const now = Date.now();
      if (t !== lastTime) {
        worstGap = Math.max(worstGap, now - lastMove);
        lastTime = t;
        lastMove = now;
      }
    }
    worstGap = Math.max(worstGap, Date.now() - lastMove);
    stop = true;
    await Promise.all(workers);

    expect(ok + failed).toBeGreaterThan(500); // the load was real
    expect(worstGap).toBeLessThan(2000);
    expect(leader.clockUpdater.counters.advances).toBeGreaterThan(5);
    expect(leader.clockUpdater.lagMs).toBeLessThan(2000);
  });

  it('keeps exactly one clock updater advancing (only the leader proposes setTime)', async () => {
    const leader = await tc.leader();
    const followers = tc.running().filter((n) => n !== leader);
    const before = followers.map((n) => n.clockUpdater.counters.advances);
    await delay(500);
    expect(followers.map((n) => n.clockUpdater.counters.advances)).toEqual(before);
    expect(leader.clockUpdater.state).toContain('leader');
    for (const f of followers) expect(f.clockUpdater.state).toContain('follower');
  });
});
