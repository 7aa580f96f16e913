/**
 * What answers count `remainingMs` from (LeaseStateMachine.timeNow): never a time older than the
 * leader's. Found by the lease simulation (test/sim/lease-scenario.ts): a follower that forwarded a
 * claim answered with its own, older global time, and the holder believed 325 ms past the moment
 * another holder was granted the lease; and a leader counted from when its setTime came back
 * applied rather than from when it proposed it.
 */
import { describe, expect, it } from 'vitest';
import { SimClock } from '../../clock/clock.ts';
import { SimNetwork } from '../../bus/sim-bus.ts';
import { subjects } from '../../bus/subjects.ts';
import { HEARD_TIME_TTL_MS, LeaseStateMachine, encodeLeaseCommand } from '../../actors/lease-state-machine.ts';
import { FacadeBatcher } from '../../actors/facade-batcher.ts';
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

  it('a setTime this node proposed counts from when it was proposed, not from when it applied', async () => {
    const clock = new SimClock(10_000);
    const sm = new LeaseStateMachine({}, clock);
    sm.proposedTime(500, 10_000); // proposed at wall 10,000 …
    await clock.advance(300); // … and committed 300 ms later
    sm.apply(1, [setTime(0, 500, 1)]);
    expect(sm.timeNow()).toBe(800);
    await clock.advance(2 * HEARD_TIME_TTL_MS); // holds while this node leads (no lapse)
    expect(sm.timeNow()).toBe(800 + 2 * HEARD_TIME_TTL_MS);
    // Without the proposal's wall time it would count from the apply: 500.
    const other = new LeaseStateMachine({}, clock);
    other.apply(1, [setTime(0, 500, 1)]);
    expect(other.timeNow()).toBe(500);
    sm.forgetProposedTimes(); // no longer leading: what it proposed says nothing
    expect(sm.timeNow()).toBe(500 + 2 * HEARD_TIME_TTL_MS); // its own estimate from the apply
    sm.proposedTime(900, clock.now() - 1000);
    sm.forgetProposedTimes();
    sm.apply(2, [setTime(500, 900, 2)]);
    expect(sm.timeNow()).toBe(900); // else 1,900
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
