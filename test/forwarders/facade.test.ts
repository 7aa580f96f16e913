import { describe, expect, it } from 'vitest';
import { TenureError } from '../../errors/errors.ts';
import type { ForwardingStackOptions } from '../../actors/transport-switch.ts';
import type { LeaseCommand } from '../../lease/types.ts';
import type { Lane } from '../../machines/admission/lanes.ts';
import { claim, extend, setTime } from './commands.ts';
import { ClusterPerTest, ForwardingCluster, settled, track, type SimForwardingNode, type Tracked } from './harness.ts';

const clusters = new ClusterPerTest();
const elect = (opts?: Partial<ForwardingStackOptions>) => clusters.elect(opts);
const codes = (ts: Tracked[]) => ts.map((t) => (t.outcome.status === 'error' ? t.outcome.code : t.outcome.status));

function submit(node: SimForwardingNode, cmd: LeaseCommand, budgetMs: number): Tracked {
  return track(node.stack.forwarder.submit(cmd, { deadline: clusters.current!.clock.now() + budgetMs }));
}

describe('facade forwarder (simulated 3-node cluster)', () => {
  it('forwards a follower command to the leader and follows a NotLeader hint once', async () => {
    const [c, leader] = await elect();
    const [f1, f2] = c.followers();
    const first = submit(f1, claim('a'), 1000);
    expect(await c.runUntil(() => settled([first]), 1000)).toBe(true);
    expect(first.outcome).toMatchObject({ status: 'ok', value: { ok: true, holder: 'a/0' } });

    // f1's tracker wrongly believes f2 leads: f2 answers NotLeader{leader}, f1 follows it once.
    f1.stack.tracker.observe(f2.id);
    const second = submit(f1, claim('a', 'b/0'), 1000);
    expect(await c.runUntil(() => settled([second]), 1000)).toBe(true);
    expect(second.outcome).toMatchObject({ status: 'ok', value: { ok: false, code: 'Held', holder: 'a/0' } });
    expect(f1.stack.facade.counters.hintsFollowed).toBe(1);
    expect(f1.stack.tracker.peek().leader).toBe(leader.id);

    // On the leader itself the command skips the bus.
    const local = submit(leader, claim('b'), 1000);
    expect(await c.runUntil(() => settled([local]), 1000)).toBe(true);
    expect(local.outcome).toMatchObject({ status: 'ok', value: { ok: true } });
    expect(leader.stack.facade.counters.local).toBe(1);
  });

  it("sends a follower's commands of one turn as one facade request, each with its own deadline", async () => {
    const [c, leader] = await elect({ facadeLeader: { maxInflightProposals: 1 } });
    const [f1] = c.followers();
    leader.gate.hold();
    const first = submit(f1, claim('first'), 5000);
    await c.run(20); // proposed and held: the next turn's commands queue on the leader
    const before = f1.stack.facade.batching;
    const patient = Array.from({ length: 40 }, (_, i) => submit(f1, claim(`k${i}`), 5000));
    const hasty = submit(f1, claim('hasty'), 50); // same turn, shorter budget
    await c.run(200);
    // The hasty claim was answered on its own deadline, not its batch's; nothing else yet.
    // The leader dropped it from its queue unproposed: known not applied.
    expect(codes([hasty])).toEqual(['DeadlineExceeded']);
    expect(codes(patient).every((s) => s === 'pending')).toBe(true);
    leader.gate.release();
    expect(await c.runUntil(() => settled([first, ...patient]), 2000)).toBe(true);
    expect(codes([first, ...patient]).every((s) => s === 'ok')).toBe(true);
    const after = f1.stack.facade.batching;
    expect(after.commands - before.commands).toBe(41);
    // One request for the 40 patient claims, one for the hasty one (deadlines far apart).
    expect(after.requests - before.requests).toBe(2);
    await c.converge();
    // The hasty claim was never applied anywhere.
    for (const n of c.nodes.values()) expect(n.fsm.fsm.get({ namespace: 'application-leadership', model: 'm1', lease: 'hasty' })).toBeNull();
  });

  it('never applies a command whose deadline passed while the leader was stalled', async () => {
    const [c, leader] = await elect({ facadeLeader: { maxInflightProposals: 1 } });
    const [f1] = c.followers();
    leader.gate.hold();
    const patient = ['p0', 'p1', 'p2'].map((l) => submit(f1, claim(l), 5000));
    await c.run(20); // p0 is proposed (and held); p1, p2 wait in the queue
    const hasty = ['h0', 'h1', 'h2', 'h3', 'h4'].map((l) => submit(f1, claim(l), 60));
    await c.run(100);
    // The leader answered before the callers' own timers: known not applied, not "outcome unknown".
    expect(codes(hasty)).toEqual(Array(5).fill('DeadlineExceeded'));
    expect(codes(patient)).toEqual(['pending', 'pending', 'pending']);

    leader.gate.release();
    expect(await c.runUntil(() => settled(patient), 2000)).toBe(true);
    expect(codes(patient)).toEqual(['ok', 'ok', 'ok']);
    await c.converge();
    for (const n of c.nodes.values()) {
      for (const l of ['p0', 'p1', 'p2']) expect(n.fsm.fsm.get({ namespace: 'application-leadership', model: 'm1', lease: l })?.holder).toBe(`${l}/0`);
      for (const l of ['h0', 'h1', 'h2', 'h3', 'h4']) expect(n.fsm.fsm.get({ namespace: 'application-leadership', model: 'm1', lease: l })).toBeNull();
    }
    const proposed = leader.gate.proposed.map((cmd) => (cmd.op === 'claim' ? cmd.key.lease : cmd.op));
    expect(proposed.filter((l) => l.startsWith('h'))).toEqual([]);
    expect(leader.stack.facadeLeader.metrics().expired).toBe(5);
  });

  it('under overload sheds claims before extends, stays bounded, keeps the clock lane open and recovers', async () => {
    const [c, leader] = await elect({
      facadeLeader: {
        maxInflightProposals: 1,
        admission: {
          maxBatchCommands: 8,
          lanes: {
            extend: { capacity: 200, admitBelowLoad: 100 },
            revoke: { capacity: 200, admitBelowLoad: 60 },
            claim: { capacity: 200, admitBelowLoad: 40 },
          },
        },
      },
    });
    const [f1, f2] = c.followers();
    const held = Array.from({ length: 20 }, (_, i) => `e${i}`);
    const setup = held.map((l) => submit(f1, claim(l), 2000));
    expect(await c.runUntil(() => settled(setup), 2000)).toBe(true);
    expect(codes(setup).every((s) => s === 'ok')).toBe(true);

    const facade = leader.stack.facadeLeader;
    const sheddingSeen: Lane[][] = [];
    let n = 0;
    const drive = async (ms: number, claimsPerMs: number, extendsPerMs: number) => {
      const claims: Tracked[] = [];
      const extendsT: Tracked[] = [];
      for (let t = 0; t < ms; t++) {
        for (let i = 0; i < claimsPerMs; i++) claims.push(submit(i % 2 ? f1 : f2, claim(`x${n++}`), 500));
        for (let i = 0; i < extendsPerMs; i++) extendsT.push(submit(i % 2 ? f2 : f1, extend(held[n++ % held.length]), 500));
        await c.run(1);
        sheddingSeen.push(facade.queue.shedding());
      }
      return { claims, extends: extendsT };
    };

    // Phase 1: claims at ~20× what the leader commits; extensions at a rate it can carry.
    const p1 = await drive(300, 20, 1);
    // Shedding claims for most of the phase (followers forward each turn's commands as one
    // request, so the queue refills in steps and may sit just below a watermark at any instant).
    expect(sheddingSeen.filter((s) => s.includes('claim')).length).toBeGreaterThan(sheddingSeen.length / 2);
    expect(await c.runUntil(() => settled([...p1.claims, ...p1.extends]), 2000)).toBe(true);
    expect(codes(p1.claims).filter((s) => s === 'Overloaded').length).toBeGreaterThan(p1.claims.length / 2);
    expect(codes(p1.extends)).toEqual(Array(p1.extends.length).fill('ok'));
    const refused = p1.claims.find((t) => t.outcome.status === 'error' && t.outcome.code === 'Overloaded')!.outcome;
    expect((refused as { error: TenureError }).error.details).toMatchObject({ lane: 'claim', retryAfterMs: expect.any(Number) });

    // Phase 2: extensions far above capacity too; meanwhile the clock updater (on the leader) ticks.
    const oldTime = leader.fsm.fsm.time();
    const p2run = drive(200, 20, 20);
    await c.run(100);
    const tick = submit(leader, setTime(oldTime, oldTime + 1000), 300);
    const p2 = await p2run;
    expect(tick.outcome).toMatchObject({ status: 'ok', value: { ok: true, time: oldTime + 1000 } });
    expect(codes(p2.extends)).toContain('Overloaded');
    // Whenever extensions were refused, claims were refused too.
    expect(sheddingSeen.filter((s) => s.includes('extend') && !s.includes('claim'))).toEqual([]);
    expect(sheddingSeen.some((s) => s.includes('extend'))).toBe(true);
    const m = facade.metrics();
    expect(m.peakLoad).toBeLessThanOrEqual(100);
    expect(m.shed.claim).toBeGreaterThan(m.shed.extend);
    expect(m.shed.clock).toBe(0);

    // Phase 3: load drops; the queue drains, reopens, and every command succeeds again.
    expect(await c.runUntil(() => settled([...p2.claims, ...p2.extends]), 2000)).toBe(true);
    expect(await c.runUntil(() => facade.modeName === 'open', 2000)).toBe(true);
    await c.run(100);
    const light: Tracked[] = [];
    for (let i = 0; i < 40; i++) {
      light.push(submit(i % 2 ? f1 : f2, claim(`calm${i}`), 500));
      await c.run(5);
    }
    expect(await c.runUntil(() => settled(light), 1000)).toBe(true);
    expect(codes(light)).toEqual(Array(40).fill('ok'));
    expect(facade.metrics().load).toBe(0);
  });

  it('never proposes a command whose caller cancelled while it was queued', async () => {
    const [c, leader] = await elect({ facadeLeader: { maxInflightProposals: 1 } });
    leader.gate.hold();
    const first = submit(leader, claim('kept'), 5000);
    await c.run(1);
    const ac = new AbortController();
    const gone = track(leader.stack.forwarder.submit(claim('dropped'), { deadline: c.clock.now() + 5000, signal: ac.signal }));
    await c.run(1);
    ac.abort();
    await c.run(1);
    expect(codes([gone])).toEqual(['Cancelled']);
    leader.gate.release();
    expect(await c.runUntil(() => settled([first]), 1000)).toBe(true);
    await c.run(50);
    expect(leader.gate.proposed.map((cmd) => (cmd.op === 'claim' ? cmd.key.lease : cmd.op))).toEqual(['kept']);
    expect(leader.stack.facadeLeader.metrics().cancelled).toBe(1);
  });

  it('answers queued commands at once when leadership moves; retries land exactly once', async () => {
    const [c, leader] = await elect({ facadeLeader: { maxInflightProposals: 1 } });
    const [f1, f2] = c.followers();
    leader.gate.hold();
    const cmds = Array.from({ length: 10 }, (_, i) => claim(`m${i}`));
    const first = cmds.map((cmd) => submit(f1, cmd, 5000));
    await c.run(20); // one batch held in flight on the old leader, the rest queued there
    const generation = f1.stack.tracker.peek().generation;
    void leader.raft.transferLeadership(f2.id);
    expect(await c.runUntil(() => f2.raft.role === 'leader' && f1.raft.leader === f2.id, 2000)).toBe(true);
    await c.run(30); // replies (and any retry that followed a hint) arrive
    // The queued commands were answered when leadership moved, long before their deadlines; only
    // the batch already handed to Raft (held at the gate) is still pending: its outcome is unknown.
    expect(leader.gate.holding).toBeGreaterThan(0);
    expect(codes(first).filter((s) => s === 'pending').length).toBe(leader.gate.holding);
    for (const s of codes(first)) expect(['pending', 'ok', 'NotLeader', 'NoLeader']).toContain(s);
    leader.gate.release(); // the held batch now meets a follower: NotLeader with the new leader's id
    expect(await c.runUntil(() => settled(first), 2000)).toBe(true);
    expect(f1.stack.tracker.peek()).toMatchObject({ leader: f2.id });
    expect(f1.stack.tracker.peek().generation).toBeGreaterThan(generation);

    // What the lease manager does: retry the same command (same client id and seq) on the new leader.
    const again = cmds.map((cmd) => submit(f1, cmd, 5000));
    expect(await c.runUntil(() => settled(again), 2000)).toBe(true);
    expect(codes(again)).toEqual(Array(10).fill('ok'));
    const tokens = again.map((t) => (t.outcome as { value: { token: number } }).value.token);
    expect(new Set(tokens).size).toBe(10);
    await c.converge();
    for (const n of c.nodes.values()) {
      cmds.forEach((cmd, i) => {
        const info = n.fsm.fsm.get(cmd.key);
        expect(info?.holder).toBe(`m${i}/0`);
        expect(info?.token).toBe(tokens[i]); // one claim each: a retry returned the first outcome
      });
    }
  });

  it('answers NoLeader at once when no leader is known', async () => {
    const cluster = (clusters.current = new ForwardingCluster());
    await cluster.start(); // nobody elected yet at time 0
    const n1 = cluster.nodes.get('n1')!;
    const t = submit(n1, claim('z'), 5000);
    await cluster.run(1);
    expect(codes([t])).toEqual(['NoLeader']);
  });

  it("writes a dispatched batch straight into entries within Raft's entry limits, each command answered", async () => {
    for (const limits of [{ maxCommandsPerEntry: 3 }, { maxBytesPerEntry: 200 }]) {
      const cluster = (clusters.current = new ForwardingCluster({ facadeLeader: { maxInflightProposals: 1 } }, undefined, undefined, limits));
      const leader = await cluster.elect();
      leader.gate.hold();
      const first = submit(leader, claim('first'), 5000);
      await cluster.run(20); // held at the gate: the next ones queue and leave as one batch
      const batch = Array.from({ length: 8 }, (_, i) => submit(leader, claim(`k${i}`, `h${i}/0`), 5000));
      leader.gate.release();
      expect(await cluster.runUntil(() => settled([first, ...batch]), 2000)).toBe(true);
      batch.forEach((t, i) => expect(t.outcome).toMatchObject({ status: 'ok', value: { ok: true, holder: `h${i}/0` } }));
      // Proposed in order, in entries of at most 3 commands (200 bytes hold two of these claims).
      expect(leader.gate.proposed.map((c) => (c.op === 'claim' ? c.key.lease : c.op)).filter((l) => l !== 'setTime')).toEqual(['first', ...batch.map((_, i) => `k${i}`)]);
      const written = leader.gate.entries.filter((e) => e.commands > 0);
      expect(written.reduce((n, e) => n + e.commands, 0)).toBe(9);
      expect(written.length).toBeGreaterThanOrEqual(limits.maxCommandsPerEntry ? 4 : 5); // first + ⌈8/3⌉, or first + ⌈8/2⌉ at most 2 per 200 bytes
      for (const e of written) {
        if (limits.maxCommandsPerEntry) expect(e.commands).toBeLessThanOrEqual(3);
        else if (e.commands > 1) expect(e.bytes).toBeLessThanOrEqual(200);
      }
      await cluster.shutdown();
      clusters.current = null;
    }
  });
});
