import { describe, expect, it } from 'vitest';
import { createActor } from 'xstate';
import { Rng, SimClock } from '../../clock/clock.ts';
import { deliver, raftMachine } from '../../machines/raft/machine.ts';
import type { RaftCore } from '../../machines/raft/core.ts';
import { RaftChart } from '../../actors/raft-chart.ts';

/**
 * `deliver` runs write-path events on the core outside the interpreter (machines/raft/machine.ts).
 * Against a stand-in core on simulated time, these pin that the chart behaves as if every event
 * had gone through it: election-timer restarts are noted, a role change moves the chart (with its
 * timers), everything else is still interpreted.
 */
function harness() {
  const clock = new SimClock(1_000);
  const calls: string[] = [];
  const core = {
    role: 'follower' as string,
    electionEpoch: 0,
    term: 1,
    /** What the next step does besides restarting the election timer. */
    onStep: null as null | (() => void),
    step() {
      calls.push('step');
      this.electionEpoch++;
      this.onStep?.();
      return [];
    },
    persistedTo(index: number) {
      calls.push(`persisted ${index}`);
      if (index < 0) throw new Error('invariant broken');
    },
    propose() {
      throw new Error('not leader');
    },
    electionTimeout() {
      calls.push('timeout');
      this.electionEpoch++;
    },
    heartbeat() {
      calls.push('heartbeat');
    },
    checkQuorum() {},
    campaign() {
      calls.push('campaign');
    },
    isVoter: () => true,
  };
  const actor = createActor(raftMachine, {
    clock,
    input: { core: core as unknown as RaftCore, rng: new Rng(7), electionMinMs: 300, electionMaxMs: 600, heartbeatMs: 50, now: () => clock.now() },
  });
  actor.start();
  const message = () => deliver(actor, { type: 'MESSAGE', msg: {} as never, respond: () => {} });
  return { clock, core, calls, actor, message };
}

describe('deliver: write-path events outside the interpreter', () => {
  it('runs a step on the core without a transition and notes the election-timer restart', async () => {
    const h = harness();
    const before = h.actor.getSnapshot();
    for (let t = 0; t < 5_000; t += 100) {
      await h.clock.advance(100);
      expect(h.message()).toBe(true);
    }
    expect(h.actor.getSnapshot()).toBe(before); // no transition at all
    expect(h.calls.filter((c) => c === 'timeout')).toEqual([]);
    expect(h.actor.getSnapshot().context.timers.election.epoch).toBe(h.core.electionEpoch);
    // Silence: the timer acts a whole randomized timeout after the last delivered message.
    const last = h.clock.now();
    await h.clock.advance(700);
    const timeouts = h.calls.filter((c) => c === 'timeout');
    expect(timeouts).toHaveLength(1);
    expect(h.clock.now() - last).toBeGreaterThanOrEqual(300);
    h.actor.stop();
  });

  it('hands a role change to the interpreter: the chart follows the core, with its timers', async () => {
    const h = harness();
    h.core.onStep = () => {
      h.core.role = 'leader';
    };
    expect(h.message()).toBe(false);
    expect(h.actor.getSnapshot().matches('leader')).toBe(true);
    await h.clock.advance(120);
    expect(h.calls.filter((c) => c === 'heartbeat').length).toBeGreaterThanOrEqual(2);
    // And back: a delivered message that deposes the leader restarts the follower's election timer.
    h.core.onStep = () => {
      h.core.role = 'follower';
    };
    expect(h.message()).toBe(false);
    expect(h.actor.getSnapshot().matches('follower')).toBe(true);
    h.core.onStep = null;
    const beats = h.calls.filter((c) => c === 'heartbeat').length;
    await h.clock.advance(700);
    expect(h.calls.filter((c) => c === 'heartbeat').length).toBe(beats);
    expect(h.calls.filter((c) => c === 'timeout')).toHaveLength(1);
    h.actor.stop();
  });

  it('sends what is not on the write path; a stopped chart takes nothing', () => {
    const h = harness();
    expect(deliver(h.actor, { type: 'CAMPAIGN' })).toBe(false);
    expect(h.calls).toEqual(['campaign']);
    h.actor.stop();
    expect(h.message()).toBe(false);
    expect(h.calls).toEqual(['campaign']); // a stopped chart runs nothing
  });

  it('answers core errors through respond, and throws an invariant broken outside one', () => {
    const h = harness();
    let answered: Error | null = null;
    expect(deliver(h.actor, { type: 'PROPOSE', datas: [], respond: (err) => (answered = err) })).toBe(true);
    expect(answered).toBeInstanceOf(Error);
    expect(deliver(h.actor, { type: 'PERSISTED', index: 3, term: 1 })).toBe(true);
    expect(() => deliver(h.actor, { type: 'PERSISTED', index: -1, term: 1 })).toThrow('invariant broken');
    h.actor.stop();
  });
});

describe('RaftChart', () => {
  it('calls `after` for a delivered event, and queues an event dispatched from inside the observer behind the transition', async () => {
    const h = harness();
    const seen: string[] = [];
    let dispatched = false;
    const chart = new RaftChart(
      h.actor,
      () => {
        seen.push(`after (${h.calls.length} calls)`);
        if (dispatched) return;
        dispatched = true;
        chart.dispatch({ type: 'PERSISTED', index: 7, term: 1 }); // inside the observer: queued, not run now
        seen.push(`dispatched (${h.calls.length} calls)`);
      },
      (err) => seen.push(`failed ${err.message}`),
    );
    h.actor.send({ type: 'CAMPAIGN' });
    expect(h.calls).toEqual(['campaign', 'persisted 7']);
    expect(seen[0]).toBe('after (1 calls)');
    expect(seen[1]).toBe('dispatched (1 calls)'); // it had not run yet
    chart.dispatch({ type: 'PERSISTED', index: -1, term: 1 });
    expect(seen.at(-1)).toBe('failed invariant broken');
    h.actor.stop();
  });
});
