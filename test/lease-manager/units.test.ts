/**
 * Unit tests with fakes and the simulated clock: the direct forwarder's refusals, the bounded
 * waiter set, and the clock updater's setTime loop (leader only, fresh `old`, OutOfSync retry).
 */
import { describe, expect, it } from 'vitest';
import { SimClock, settle } from '../../clock/clock.ts';
import { TenureError } from '../../errors/errors.ts';
import type { Bus } from '../../bus/types.ts';
import type { LeaseCommand, LeaseResult } from '../../lease/types.ts';
import { DirectForwarder } from '../../actors/forwarder.ts';
import { DEADLINE_TICK_MS, Waiters } from '../../actors/waiters.ts';
import { ClockUpdater } from '../../actors/clock-updater.ts';
import { ManualLeadership } from '../../actors/leadership-feed.ts';
import { encodeLeaseCommand, LeaseStateMachine } from '../../actors/lease-state-machine.ts';
import { decodeValidCommand } from '../../lease/command-codec.ts';

const key = { namespace: 'ns', model: 'm', lease: 'l' };
const claim: LeaseCommand = { op: 'claim', key, holder: 'h', durationMs: 1000, clientId: 'c', seq: 1 };

function fakeRaft(role: string, leader: string | null) {
  const proposed: Uint8Array[] = [];
  return {
    proposed,
    raft: { id: 'n1', role, leader, propose: async (c: Uint8Array) => (proposed.push(c), { ok: true }) },
  };
}

const noBus = {
  request: () => Promise.reject(new TenureError('NoResponders', 'no responders')),
} as unknown as Bus;

describe('DirectForwarder', () => {
  it('refuses a command whose deadline has passed, without proposing it', async () => {
    const clock = new SimClock(1000);
    const { raft, proposed } = fakeRaft('leader', 'n1');
    const f = new DirectForwarder({ raft, bus: noBus, cluster: 'c', clock });
    await expect(f.submit(claim, { deadline: 1000 })).rejects.toMatchObject({ code: 'DeadlineExceeded' });
    expect(proposed).toHaveLength(0);
    await expect(f.submit(claim, { deadline: 2000 })).resolves.toEqual({ ok: true });
    expect(proposed).toHaveLength(1);
  });

  it('answers NoLeader at once when no leader is known, and when the leader does not listen', async () => {
    const clock = new SimClock(0);
    const none = new DirectForwarder({ raft: fakeRaft('follower', null).raft, bus: noBus, cluster: 'c', clock });
    await expect(none.submit(claim, { deadline: 5000 })).rejects.toMatchObject({ code: 'NoLeader' });
    const gone = new DirectForwarder({ raft: fakeRaft('follower', 'n2').raft, bus: noBus, cluster: 'c', clock });
    await expect(gone.submit(claim, { deadline: 5000 })).rejects.toMatchObject({ code: 'NoLeader' });
  });

  it('follows a NotLeader hint once', async () => {
    const asked: string[] = [];
    const bus = {
      request: async (subject: string) => {
        asked.push(subject);
        if (subject.includes('.n2.')) throw new TenureError('NotLeader', 'not me', { leader: 'n3' });
        return { results: [{ ok: true }] };
      },
    } as unknown as Bus;
    const f = new DirectForwarder({ raft: fakeRaft('follower', 'n2').raft, bus, cluster: 'c', clock: new SimClock(0) });
    await expect(f.submit(claim, { deadline: 5000 })).resolves.toEqual({ ok: true });
    expect(asked).toEqual(['tenure.v1.c.raft.n2.propose', 'tenure.v1.c.raft.n3.propose']);
  });
});

describe('Waiters', () => {
  it('wakes every waiter of a released key, and only those', async () => {
    const clock = new SimClock(0);
    const w = new Waiters({ clock });
    const a = w.add(key, 10_000);
    const b = w.add(key, 10_000);
    const other = w.add({ ...key, lease: 'other' }, 10_000);
    w.released(key, 'revoked', 7);
    await expect(a).resolves.toEqual({ reason: 'revoked', index: 7 });
    await expect(b).resolves.toEqual({ reason: 'revoked', index: 7 });
    expect(w.size).toBe(1);
    w.recheck((k) => k.lease === 'other');
    await expect(other).resolves.toEqual({ reason: 'free' });
    expect(w.size).toBe(0);
  });

  it('is bounded (Overloaded with retryAfterMs) and ends waiters at their deadline or on abort', async () => {
    const clock = new SimClock(0);
    const w = new Waiters({ clock, max: 2 });
    const timed = w.add(key, 500);
    const ac = new AbortController();
    const aborted = w.add(key, 10_000, ac.signal);
    await expect(w.add(key, 10_000)).rejects.toMatchObject({ code: 'Overloaded', details: { retryAfterMs: 1000 } });
    ac.abort();
    await expect(aborted).rejects.toMatchObject({ code: 'Cancelled' });
    const timedOut = expect(timed).rejects.toMatchObject({ code: 'DeadlineExceeded' });
    await clock.advance(500);
    await timedOut;
    expect(w.size).toBe(0);
    expect(w.rejected).toBe(1);
  });

  it('answers waiters due in the same tick from one timer, never before their deadline, at most a tick late', async () => {
    const clock = new SimClock(0);
    let timers = 0;
    let fired = 0;
    const counting = {
      now: () => clock.now(),
      setTimeout: (fn: () => void, ms: number) => (timers++, clock.setTimeout(() => (fired++, fn()), ms)),
      clearTimeout: (h: unknown) => clock.clearTimeout(h),
    };
    const w = new Waiters({ clock: counting });
    const endedAt = new Map<number, number>();
    const deadlines = Array.from({ length: 3000 }, (_, i) => 1001 + (i % 29)); // 1001 … 1029: ticks 1010, 1020, 1030
    const all = deadlines.map((d, i) =>
      w.add({ ...key, lease: `l${i % 50}` }, d).then(
        () => expect.unreachable('nothing released them'),
        (err: TenureError) => {
          expect(err.code).toBe('DeadlineExceeded');
          endedAt.set(i, clock.now());
        },
      ),
    );
    expect(timers).toBe(3);
    await clock.advanceTo(1009);
    expect(endedAt.size).toBe(0);
    await clock.advanceTo(1030);
    await Promise.all(all);
    expect(fired).toBe(3);
    deadlines.forEach((d, i) => {
      expect(endedAt.get(i)).toBeGreaterThanOrEqual(d);
      expect(endedAt.get(i)! - d).toBeLessThan(DEADLINE_TICK_MS);
    });
    expect(w.size).toBe(0);
    // A tick whose waiters were all woken first leaves no timer behind.
    const early = [w.add(key, 2005), w.add(key, 2007)];
    expect(clock.nextAt()).toBe(2010);
    w.released(key, 'revoked', 9);
    await Promise.all(early);
    expect(clock.nextAt()).toBeUndefined();
  });
});

describe('ClockUpdater', () => {
  function setup(intervalMs = 1000) {
    const clock = new SimClock(0);
    const sm = new LeaseStateMachine();
    let index = 0;
    const proposals: LeaseCommand[] = [];
    let interfere = false;
    const raft = {
      propose: async (bytes: Uint8Array): Promise<unknown> => {
        const cmd = decodeValidCommand(bytes);
        proposals.push(cmd);
        if (interfere && cmd.op === 'setTime') {
          // A deposed leader's setTime lands first: ours becomes OutOfSync.
          interfere = false;
          const t = sm.fsm.time();
          sm.apply(++index, [encodeLeaseCommand({ op: 'setTime', oldTime: t, newTime: t + 5, clientId: 'other', seq: ++index })]);
        }
        return sm.apply(++index, [bytes])[0] as LeaseResult;
      },
    };
    const leadership = new ManualLeadership();
    const updater = new ClockUpdater({ nodeId: 'n1', raft, stateMachine: sm, leadership, clock, intervalMs });
    updater.start();
    return { clock, sm, proposals, leadership, updater, setInterfere: () => (interfere = true) };
  }

  it('proposes nothing while a follower, and setTime(old, old + elapsed) every interval while leader', async () => {
    const { clock, sm, proposals, leadership, updater } = setup();
    await clock.advance(3000);
    expect(proposals).toHaveLength(0);
    leadership.set({ role: 'leader', leader: 'n1', term: 1 });
    await clock.advance(1000);
    await settle();
    expect(proposals).toMatchObject([{ op: 'setTime', oldTime: 0, newTime: 1000 }]);
    await clock.advance(1000);
    await settle();
    expect(sm.fsm.time()).toBe(2000);
    expect(updater.lagMs).toBe(0);
    leadership.set({ role: 'follower', leader: 'n2', term: 2 });
    await clock.advance(3000);
    expect(proposals).toHaveLength(2);
    expect(updater.lagMs).toBe(3000);
    updater.stop();
  });

  it('re-reads the time and retries after OutOfSync', async () => {
    const { clock, sm, proposals, leadership, updater, setInterfere } = setup();
    leadership.set({ role: 'leader', leader: 'n1', term: 1 });
    setInterfere();
    await clock.advance(1000);
    await settle();
    const mine = proposals.filter((p) => p.op === 'setTime' && p.clientId !== 'other');
    expect(mine).toHaveLength(2);
    expect(mine[1]).toMatchObject({ oldTime: 5 }); // fresh `old` after the other leader's advance
    expect(sm.fsm.time()).toBeGreaterThan(5);
    expect(updater.counters.outOfSync).toBe(1);
    updater.stop();
  });

  describe('stamps ahead of client commands', () => {
    function stamped(stampMs = 100) {
      const clock = new SimClock(0);
      const sm = new LeaseStateMachine({}, clock);
      let index = 0;
      let lead: (() => { command: Uint8Array; settle: (err: Error | null, result?: unknown) => void } | null) | null = null;
      const raft = {
        propose: async (bytes: Uint8Array): Promise<unknown> => sm.apply(++index, [bytes])[0],
        setProposalLead: (l: typeof lead) => (lead = l),
      };
      const leadership = new ManualLeadership();
      const updater = new ClockUpdater({ nodeId: 'n1', raft, stateMachine: sm, leadership, clock, intervalMs: 1000, stampMs });
      updater.start();
      /** What the batcher does at a flush: ask for a lead, then write it first (here: not yet applied). */
      const flush = () => {
        const l = lead?.() ?? null;
        return l && { cmd: decodeValidCommand(l.command), apply: () => l.settle(null, sm.apply(++index, [l.command])[0]) };
      };
      const applyClaim = (lease: string, durationMs: number) =>
        sm.apply(++index, [encodeLeaseCommand({ op: 'claim', key: { ...key, lease }, holder: 'h', durationMs, clientId: `c-${lease}`, seq: 1 })])[0] as LeaseResult;
      return { clock, sm, updater, leadership, flush, applyClaim, hasLead: () => lead !== null, otherAdvance: () => { const t = sm.fsm.time(); sm.apply(++index, [encodeLeaseCommand({ op: 'setTime', oldTime: t, newTime: t + 5, clientId: 'other', seq: index })]); } };
    }

    it('a claim proposed between ticks counts its expiry from the time it was proposed, not the last tick', async () => {
      const s = stamped();
      s.leadership.set({ role: 'leader', leader: 'n1', term: 1 });
      await s.clock.advance(1000);
      await settle();
      expect(s.sm.fsm.time()).toBe(1000); // the tick
      await s.clock.advance(60);
      expect(s.flush()).toBeNull(); // less than stampMs since the last advance
      await s.clock.advance(700);
      const lead = s.flush()!;
      expect(lead.cmd).toMatchObject({ op: 'setTime', oldTime: 1000, newTime: 1760 });
      lead.apply();
      expect(s.applyClaim('a', 5000)).toMatchObject({ ok: true, expiry: 6760 }); // ticks alone: 6000
      expect(s.updater.counters.stamps).toBe(1);
      // The next tick (its timer runs from the last tick, at 2000) adds the wall time since the
      // stamp, not since the tick before it (which would make it 2760).
      await s.clock.advance(300);
      await settle();
      expect(s.sm.fsm.time()).toBe(2000);
      s.updater.stop();
      expect(s.hasLead()).toBe(false);
    });

    it('chains setTimes still in flight, and reads the FSM again after one fails', async () => {
      const s = stamped();
      s.leadership.set({ role: 'leader', leader: 'n1', term: 1 });
      await s.clock.advance(200);
      const first = s.flush()!;
      await s.clock.advance(200);
      const second = s.flush()!; // the first is not applied yet: chained onto it
      expect([first.cmd, second.cmd]).toMatchObject([{ oldTime: 0, newTime: 200 }, { oldTime: 200, newTime: 400 }]);
      first.apply();
      second.apply();
      expect(s.sm.fsm.time()).toBe(400);
      await s.clock.advance(200);
      const third = s.flush()!;
      s.otherAdvance(); // a deposed leader's setTime lands first
      third.apply();
      expect(s.updater.counters.outOfSync).toBe(1);
      await s.clock.advance(150);
      const fourth = s.flush()!;
      expect(fourth.cmd).toMatchObject({ oldTime: 405 }); // fresh from the FSM
      fourth.apply();
      expect(s.sm.fsm.time()).toBeGreaterThan(405);
      expect(s.updater.counters.stamps).toBe(3);
      s.updater.stop();
    });

    it('a tick Raft could not take (Overloaded) is taken back: the retry builds on what was applied, not on it', async () => {
      const clock = new SimClock(0);
      const sm = new LeaseStateMachine({}, clock);
      let index = 0;
      let refuse = 1;
      const proposed: LeaseCommand[] = [];
      const raft = {
        propose: async (bytes: Uint8Array): Promise<unknown> => {
          proposed.push(decodeValidCommand(bytes));
          if (refuse-- > 0) throw new TenureError('Overloaded', 'proposal queue full');
          return sm.apply(++index, [bytes])[0];
        },
        setProposalLead: () => {},
      };
      const leadership = new ManualLeadership();
      const updater = new ClockUpdater({ nodeId: 'n1', raft, stateMachine: sm, leadership, clock, intervalMs: 1000 });
      updater.start();
      leadership.set({ role: 'leader', leader: 'n1', term: 1 });
      await clock.advance(1000);
      await settle();
      await clock.advance(5);
      await settle();
      expect(proposed).toMatchObject([
        { op: 'setTime', oldTime: 0, newTime: 1000 },
        { op: 'setTime', oldTime: 0, newTime: 1005 },
      ]);
      expect(sm.fsm.time()).toBe(1005);
      expect(updater.counters).toMatchObject({ advances: 1, outOfSync: 0, failures: 0 });
      updater.stop();
    });

    it('a follower stamps nothing, and stampMs 0 leaves proposals alone', async () => {
      const s = stamped();
      await s.clock.advance(500);
      expect(s.flush()).toBeNull();
      s.updater.stop();
      const off = stamped(0);
      expect(off.hasLead()).toBe(false);
      off.leadership.set({ role: 'leader', leader: 'n1', term: 1 });
      await off.clock.advance(500);
      expect(off.flush()).toBeNull();
      off.updater.stop();
    });
  });
});
