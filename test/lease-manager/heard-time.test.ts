/**
 * What answers count `remainingMs` from (LeaseStateMachine.timeNow): never a time older than the
 * leader's. Found by the lease simulation (test/sim/lease-scenario.ts): a follower that forwarded a
 * claim answered with its own, older global time, and the holder believed 325 ms past the moment
 * another holder was granted the lease; and a leader counted from when its setTime came back
 * applied, or from when a deposed leader's setTime applied, rather than from the line its own next
 * setTime follows.
 */
import { describe, expect, it } from 'vitest';
import { SimClock } from '../../clock/clock.ts';
import { SimNetwork } from '../../bus/sim-bus.ts';
import { subjects } from '../../bus/subjects.ts';
import { HEARD_TIME_TTL_MS, LeaseStateMachine, encodeLeaseCommand } from '../../actors/lease-state-machine.ts';
import { FacadeBatcher } from '../../actors/facade-batcher.ts';
import { ClockUpdater } from '../../actors/clock-updater.ts';
import { ManualLeadership } from '../../actors/leadership-feed.ts';
import { settle } from '../../clock/clock.ts';
import { facadeSubject } from '../../machines/forwarder/wire.ts';
import type { LeaseCommand } from '../../lease/types.ts';

const setTime = (oldTime: number, newTime: number, seq: number): Uint8Array =>
  encodeLeaseCommand({ op: 'setTime', oldTime, newTime, clientId: 'clock:test', seq } as LeaseCommand);

describe('global time as of now (timeNow)', () => {
  it('a time heard from the leader raises a lagging node’s, and lapses after HEARD_TIME_TTL_MS', async () => {
    const clock = new SimClock(10_000);
    const sm = new LeaseStateMachine({}, clock);
    sm.apply(1, [setTime(0, 1000, 1)]);
    await clock.advance(100);
    expect(sm.timeNow()).toBe(1100); // its own estimate: the FSM's time plus the wall time since
    sm.heardTime(3000); // the leader said 3000 just now
    expect(sm.timeNow()).toBe(3000);
    await clock.advance(50);
    expect(sm.timeNow()).toBe(3050);
    sm.heardTime(2000); // an older report changes nothing while the better one holds
    expect(sm.timeNow()).toBe(3050);
    await clock.advance(HEARD_TIME_TTL_MS);
    expect(sm.timeNow()).toBe(1000 + 150 + HEARD_TIME_TTL_MS); // lapsed: back to its own
  });

  it('on the leader, answers count from when it advanced global time, not from when the setTime applied', async () => {
    const clock = new SimClock(0);
    const sm = new LeaseStateMachine({}, clock);
    let index = 0;
    // Every entry takes 300 ms to commit (a slow disk, a slow follower).
    const raft = {
      propose: (bytes: Uint8Array): Promise<unknown> => new Promise((resolve) => clock.setTimeout(() => resolve(sm.apply(++index, [bytes])[0]), 300)),
    };
    const leadership = new ManualLeadership();
    const updater = new ClockUpdater({ nodeId: 'n1', raft, stateMachine: sm, leadership, clock, intervalMs: 1000, stampMs: 0 });
    updater.start();
    leadership.set({ role: 'leader', leader: 'n1', term: 1 });
    await clock.advance(1300); // the tick proposed setTime(0 → 1000) at 1000; it applied at 1300
    expect(sm.fsm.time()).toBe(1000);
    expect(sm.timeNow()).toBe(1300); // counting from the apply it would say 1000: 300 ms too much promised
    leadership.set({ role: 'follower', leader: 'n2', term: 2 });
    await settle();
    await clock.advance(100);
    expect(sm.timeNow()).toBe(1100); // a follower counts from when the time moved here
    updater.stop();
  });

  it('a new leader counts from its election, even when a deposed leader’s setTime applies after it', async () => {
    const clock = new SimClock(5000);
    const sm = new LeaseStateMachine({}, clock);
    sm.apply(1, [setTime(0, 2000, 1)]);
    const leadership = new ManualLeadership();
    const updater = new ClockUpdater({ nodeId: 'n1', raft: { propose: () => new Promise(() => {}) }, stateMachine: sm, leadership, clock, intervalMs: 1000, stampMs: 0 });
    updater.start();
    leadership.set({ role: 'leader', leader: 'n1', term: 2 }); // elected at 5000
    await settle();
    await clock.advance(200);
    sm.apply(2, [setTime(2000, 2500, 2)]); // the old leader's, committed under the new one
    // Its next setTime will say 2500 + (now − 5000): that is when it will expire leases.
    expect(sm.timeNow()).toBe(2700);
    updater.stop();
  });

  it('a follower forwarding through the facade takes in the leader’s time before its results are answered', async () => {
    const clock = new SimClock(0);
    const net = new SimNetwork({ seed: 3, clock, minDelayMs: 1, maxDelayMs: 1 });
    const subj = subjects('ht');
    net.endpoint('leader').serve(facadeSubject(subj, 'leader'), (req) => ({
      outcomes: (req.data as { commands: unknown[] }).commands.map(() => ({ result: { ok: true, holder: 'h', expiry: 9000, token: 3 } })),
      now: 7000,
    }));
    const heard: { now: unknown; at: number }[] = [];
    const batcher = new FacadeBatcher({ bus: net.endpoint('follower'), subj, clock, marginMs: 5, heardTime: (now) => heard.push({ now, at: clock.now() }) });
    const cmd = { op: 'claim', key: { namespace: 'n', model: 'm', lease: 'l' }, holder: 'h', durationMs: 1000, clientId: 'c', seq: 1 } as LeaseCommand;
    let settledAt = -1;
    const p = batcher.send('leader', cmd, 1000).then((r) => {
      settledAt = clock.now();
      expect(heard).toHaveLength(1); // heard before the result reached the caller
      return r;
    });
    await clock.advance(20);
    await expect(p).resolves.toMatchObject({ expiry: 9000 });
    expect(heard).toEqual([{ now: 7000, at: settledAt }]);
  });
});
