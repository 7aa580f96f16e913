/**
 * A wall clock that steps (NTP, an operator, a VM resumed) while the cluster runs. Global time
 * moves by the leader's *elapsed* time, and every node and client measures elapsed time on
 * `systemClock`, which never steps (clock/clock.ts `monotonicNow`). Here the whole cluster — every
 * node, the clients — runs in this process, and `Date.now()` is made to jump an hour forward, then
 * an hour back: leases must neither all expire at once nor stop expiring.
 */
import { afterAll, afterEach, beforeAll, describe, expect, it, vi } from 'vitest';
import { monotonicNow, systemClock } from '../../clock/clock.ts';
import { NS, TestCluster, delay } from './harness.ts';

const HOUR = 3_600_000;
const tc = new TestCluster('clockstep');
const key = (lease: string) => ({ namespace: NS, model: 'm1', lease });

beforeAll(async () => {
  await tc.startAll();
  await tc.leader();
});

afterEach(() => vi.restoreAllMocks());
afterAll(() => tc.shutdown());

/** Makes the wall clock read `offsetMs` away from the real one from now on. */
function stepWallClock(offsetMs: number): void {
  vi.restoreAllMocks();
  const real = Date.now.bind(Date);
  vi.spyOn(Date, 'now').mockImplementation(() => real() + offsetMs);
}

describe('a wall clock that steps', () => {
  it('systemClock does not follow the step', () => {
    const before = systemClock.now();
    stepWallClock(HOUR);
    expect(Math.abs(Date.now() - before - HOUR)).toBeLessThan(1000);
    expect(systemClock.now() - before).toBeLessThan(1000);
    expect(monotonicNow()).toBeGreaterThanOrEqual(before);
    stepWallClock(-HOUR);
    expect(systemClock.now()).toBeGreaterThanOrEqual(before);
  });

  it('an hour forward on every node expires nothing early; an hour back does not stop expiry', async () => {
    const client = await tc.client();
    const leader = await tc.leader();
    const held = await client.claim(key('step-1'), 'h/0', 60_000);
    const short = await client.claim(key('step-2'), 'h/0', 2_000);
    const t0 = leader.stateMachine.fsm.time();

    stepWallClock(HOUR);
    await delay(1500); // several clock ticks
    expect(leader.stateMachine.fsm.time() - t0).toBeLessThan(10_000);
    const still = await client.get(key('step-1'), { linearizable: true });
    expect(still).toMatchObject({ holder: 'h/0', token: held.token });
    expect(still.remainingMs!).toBeGreaterThan(50_000);

    stepWallClock(-HOUR);
    // The 2 s lease still expires on time (global time keeps moving), well within its wait's deadline.
    const freed = await client.wait(key('step-2'), { deadlineMs: 8000 });
    expect(freed).toMatchObject({ free: true, reason: 'expired' });
    expect(short.remainingMs).toBeLessThanOrEqual(2000);
    expect(await client.get(key('step-1'), { linearizable: true })).toMatchObject({ holder: 'h/0' });
  });
});
