import { describe, expect, it } from 'vitest';
import { createActor } from 'xstate';
import { Rng, SimClock } from '../../clock/clock.ts';
import { raftMachine } from '../../machines/raft/machine.ts';
import type { RaftCore } from '../../machines/raft/core.ts';

/**
 * The chart's election timer on simulated time, against a stand-in core: every MESSAGE restarts
 * the timer (as a message from the leader does), `electionTimeout` is counted. The restart is
 * noted lazily (machines/raft/machine.ts); these pin that it still acts exactly when a whole
 * randomized timeout passed without one.
 */
function harness(opts: { voter?: boolean } = {}) {
  const clock = new SimClock(1_000);
  // A stall: the chart's `now` jumps ahead while no timer fires (they fire late afterwards).
  let stalled = 0;
  const now = () => clock.now() + stalled;
  const timeouts: number[] = [];
  const core = {
    role: 'follower',
    electionEpoch: 0,
    step() {
      this.electionEpoch++;
      return [];
    },
    electionTimeout() {
      timeouts.push(now());
      this.electionEpoch++; // as the real core: a timeout restarts the timer; a stand-in never campaigns
    },
    isVoter: () => opts.voter ?? true,
  };
  const actor = createActor(raftMachine, {
    clock,
    input: { core: core as unknown as RaftCore, rng: new Rng(7), electionMinMs: 300, electionMaxMs: 600, heartbeatMs: 50, now },
  });
  actor.start();
  const message = () => actor.send({ type: 'MESSAGE', msg: {} as never, respond: () => {} });
  const stall = (ms: number) => {
    stalled += ms;
  };
  const untilGrace = async () => {
    for (let i = 0; i < 1_000 && !actor.getSnapshot().matches({ follower: 'grace' }); i++) await clock.advance(1);
    expect(actor.getSnapshot().matches({ follower: 'grace' })).toBe(true);
  };
  return { clock, actor, timeouts, message, stall, untilGrace };
}

describe('election timer (lazy restart)', () => {
  it('never fires while messages keep coming, however many', async () => {
    const h = harness();
    for (let t = 0; t < 10_000; t += 50) {
      await h.clock.advance(50);
      h.message();
      h.message(); // several per interval: each is a restart
    }
    expect(h.timeouts).toEqual([]);
    h.actor.stop();
  });

  it('fires between min and max after the last message, not counted from an earlier one', async () => {
    const h = harness();
    for (let t = 0; t < 1_000; t += 100) {
      await h.clock.advance(100);
      h.message();
    }
    const last = h.clock.now();
    await h.clock.advance(700);
    expect(h.timeouts).toHaveLength(1);
    const after = h.timeouts[0] - last;
    expect(after).toBeGreaterThanOrEqual(300);
    expect(after).toBeLessThan(600);
    h.actor.stop();
  });

  it('fires at start when nothing is heard, once per timeout, never in a tight loop', async () => {
    const h = harness({ voter: false });
    await h.clock.advance(10_000);
    // Each timeout re-arms a fresh one of 300–600 ms: 16–34 in 10 s.
    expect(h.timeouts.length).toBeGreaterThanOrEqual(16);
    expect(h.timeouts.length).toBeLessThanOrEqual(34);
    expect(h.timeouts[0] - 1_000).toBeGreaterThanOrEqual(300);
    for (let i = 1; i < h.timeouts.length; i++) expect(h.timeouts[i] - h.timeouts[i - 1]).toBeGreaterThanOrEqual(300);
    h.actor.stop();
  });

  it('a timer that fires late after a stall takes its grace first, even when restarted before the stall', async () => {
    const h = harness();
    await h.clock.advance(100);
    h.message(); // restarted, then the process stalls for 2 s
    h.stall(2_000);
    await h.untilGrace(); // the timer comes due, 2 s late
    expect(h.timeouts).toEqual([]);
    h.message(); // the leader's queued heartbeat is read during the grace
    await h.clock.advance(250);
    expect(h.timeouts).toEqual([]);
    for (let t = 0; t < 2_000; t += 50) {
      await h.clock.advance(50);
      h.message();
    }
    expect(h.timeouts).toEqual([]);
    h.actor.stop();
  });

  it('after a stall with nothing heard it still acts, once the grace is over', async () => {
    const h = harness();
    await h.clock.advance(100);
    h.message();
    h.stall(2_000);
    await h.untilGrace();
    expect(h.timeouts).toEqual([]);
    await h.clock.advance(200); // grace: two heartbeat intervals
    expect(h.timeouts).toHaveLength(1);
    h.actor.stop();
  });
});
