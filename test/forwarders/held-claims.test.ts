/**
 * Claims a held lease refuses, answered by the facade leader after a ReadIndex barrier without a
 * log entry (actors/held-claims.ts) — and only when the claim is the only copy ever sent.
 */
import { describe, expect, it } from 'vitest';
import { TenureError } from '../../errors/errors.ts';
import type { ForwardingStackOptions } from '../../actors/transport-switch.ts';
import type { ClaimCommand, LeaseCommand, LeaseResult } from '../../lease/types.ts';
import { parseFacadeRequest } from '../../machines/forwarder/wire.ts';
import { claim, revoke } from './commands.ts';
import { ClusterPerTest, settled, track, type Outcome, type SimForwardingNode, type Tracked } from './harness.ts';

const clusters = new ClusterPerTest();
const elect = (opts?: Partial<ForwardingStackOptions>) => clusters.elect(opts);

function submit(node: SimForwardingNode, cmd: LeaseCommand, firstCopy: boolean, budgetMs = 1000): Tracked {
  return track(node.stack.forwarder.submit(cmd, { deadline: clusters.current!.clock.now() + budgetMs, firstCopy }));
}

async function done(t: Tracked): Promise<Outcome<LeaseResult>> {
  expect(await clusters.current!.runUntil(() => settled([t]), 2000)).toBe(true);
  return t.outcome;
}

const proposedFor = (leader: SimForwardingNode, cmd: LeaseCommand) => leader.gate.proposed.filter((p) => p.clientId === cmd.clientId && p.seq === cmd.seq).length;

describe('claims a held lease refuses, answered without the log', () => {
  it('a first copy is answered Held after a barrier, from a follower and on the leader; nothing is proposed', async () => {
    const [c, leader] = await elect();
    const [f1] = c.followers();
    expect(await done(submit(f1, claim('a'), true))).toMatchObject({ status: 'ok', value: { ok: true, holder: 'a/0' } });
    const clientsBefore = leader.fsm.fsm.stats().clients;

    const remote = claim('a', 'b/0');
    expect(await done(submit(f1, remote, true))).toMatchObject({ status: 'ok', value: { ok: false, code: 'Held', holder: 'a/0' } });
    const local = claim('a', 'c/0');
    expect(await done(submit(leader, local, true))).toMatchObject({ status: 'ok', value: { ok: false, code: 'Held', holder: 'a/0' } });

    expect(proposedFor(leader, remote) + proposedFor(leader, local)).toBe(0);
    expect(leader.stack.facadeLeader.held!.counters).toMatchObject({ answered: 2, admitted: 0, failed: 0 });
    expect(leader.stack.facadeLeader.metrics().heldClaims).toMatchObject({ answered: 2, waiting: 0 });
    await c.converge();
    for (const n of c.nodes.values()) expect(n.fsm.fsm.stats().clients).toBe(clientsBefore); // no dedupe entries
  });

  it('a claim that is not marked the only copy (a retry) goes through the log as before', async () => {
    const [c, leader] = await elect();
    const [f1] = c.followers();
    await done(submit(f1, claim('a'), true));
    const retry = claim('a', 'b/0');
    expect(await done(submit(f1, retry, false))).toMatchObject({ status: 'ok', value: { ok: false, code: 'Held' } });
    expect(proposedFor(leader, retry)).toBe(1);
    expect(leader.stack.facadeLeader.held!.counters.answered).toBe(0);
  });

  it('a forward that follows a NotLeader hint is not the only copy', async () => {
    const [c, leader] = await elect();
    const [f1, f2] = c.followers();
    await done(submit(f1, claim('a'), true));
    f1.stack.tracker.observe(f2.id); // f1 believes f2 leads: f2 refuses, f1 follows the hint
    const hinted = claim('a', 'b/0');
    expect(await done(submit(f1, hinted, true))).toMatchObject({ status: 'ok', value: { ok: false, code: 'Held' } });
    expect(f1.stack.facade.counters.hintsFollowed).toBe(1);
    expect(proposedFor(leader, hinted)).toBe(1);
    expect(leader.stack.facadeLeader.held!.counters.answered).toBe(0);
  });

  it('a free lease, or one the claimant holds, is claimed through the log', async () => {
    const [c, leader] = await elect();
    const [f1] = c.followers();
    const fresh = claim('free');
    expect(await done(submit(f1, fresh, true))).toMatchObject({ status: 'ok', value: { ok: true } });
    const again = claim('free'); // the same holder: lengthens, so it must be applied
    expect(await done(submit(f1, again, true))).toMatchObject({ status: 'ok', value: { ok: true, extended: true } });
    expect(proposedFor(leader, fresh) + proposedFor(leader, again)).toBe(2);
    expect(leader.stack.facadeLeader.held!.counters.answered).toBe(0);
  });

  it('a lease that came free while the barrier ran is claimed through the log, once', async () => {
    // The first look says held; after the barrier the (real) state says free: the claim is admitted.
    let looks = 0;
    const [c, leader] = await elect({
      claimReads: {
        barrier: (ms) => clusters.current!.leader()!.raft.readBarrier(ms),
        refusal: (cmd: ClaimCommand) => (++looks === 1 ? { ok: false, code: 'Held', message: 'held', holder: 'x/0' } : clusters.current!.leader()!.fsm.fsm.claimRefusal(cmd)),
      },
    });
    const [f1] = c.followers();
    const cmd = claim('came-free', 'b/0');
    expect(await done(submit(f1, cmd, true))).toMatchObject({ status: 'ok', value: { ok: true, holder: 'b/0' } });
    expect(looks).toBe(2); // on arrival and after the barrier
    expect(proposedFor(leader, cmd)).toBe(1);
    expect(leader.stack.facadeLeader.held!.counters).toMatchObject({ answered: 0, admitted: 1 });
  });

  it('a barrier that fails answers its error and proposes nothing', async () => {
    const [c, leader] = await elect({
      claimReads: {
        barrier: () => Promise.reject(new TenureError('NotLeader', 'lost leadership', { leader: null })),
        refusal: () => ({ ok: false, code: 'Held', message: 'held', holder: 'x/0' }),
      },
    });
    const cmd = claim('a', 'b/0');
    expect(await done(submit(leader, cmd, true))).toMatchObject({ status: 'error', code: 'NotLeader' });
    expect(proposedFor(leader, cmd)).toBe(0);
    expect(leader.stack.facadeLeader.held!.counters.failed).toBe(1);
    void c;
  });

  it('claims of one turn share one barrier; a revoke committed before the claim arrived is seen', async () => {
    const [c, leader] = await elect();
    const [f1] = c.followers();
    await done(submit(f1, claim('a'), true));
    const herd = Array.from({ length: 20 }, (_, i) => submit(f1, claim('a', `u${i}/0`), true));
    expect(await c.runUntil(() => settled(herd), 2000)).toBe(true);
    expect(herd.every((t) => t.outcome.status === 'ok' && (t.outcome.value as { code?: string }).code === 'Held')).toBe(true);
    expect(leader.stack.facadeLeader.held!.counters).toMatchObject({ answered: 20, barriers: 1 });

    expect(await done(submit(f1, revoke('a'), false))).toMatchObject({ status: 'ok', value: { ok: true } });
    const next = claim('a', 'v/0');
    expect(await done(submit(f1, next, true))).toMatchObject({ status: 'ok', value: { ok: true, holder: 'v/0' } });
    expect(proposedFor(leader, next)).toBe(1);
  });
});

describe('why only the only copy may be answered without the log', () => {
  // A client's first attempt is delayed in transit; its retry (same clientId and seq) reaches the
  // leader first while another holds the lease; the lease comes free; then the first copy arrives.
  async function scenario(retryMarkedFirst: boolean) {
    const [c, leader] = await elect();
    const [f1] = c.followers();
    await done(submit(f1, claim('contested', 'owner/0'), true));
    const cmd: ClaimCommand = { ...claim('contested', 'late/0'), clientId: 'late-client', seq: 1 };
    const retry = await done(submit(f1, cmd, retryMarkedFirst));
    expect(retry).toMatchObject({ status: 'ok', value: { ok: false, code: 'Held' } }); // what the caller is told
    await done(submit(f1, revoke('contested', 'owner/0'), false));
    return done(submit(f1, { ...cmd }, true)); // the delayed first copy, marked as it was sent
  }

  it('a retry goes through the log, so the delayed first copy gets the same Held from the dedupe table', async () => {
    expect(await scenario(false)).toMatchObject({ status: 'ok', value: { ok: false, code: 'Held' } });
    expect(clusters.current!.leader()!.fsm.fsm.get({ namespace: 'application-leadership', model: 'm1', lease: 'contested' })).toBeNull();
  });

  it('(the hazard) a retry wrongly marked as the only copy leaves nothing in the log, and the first copy then takes the lease', async () => {
    expect(await scenario(true)).toMatchObject({ status: 'ok', value: { ok: true, holder: 'late/0' } });
  });
});

describe('facade wire: firstCopies', () => {
  it('accepts ascending command indices and refuses anything else as Invalid naming the field', () => {
    const commands = [{}, {}, {}];
    expect(parseFacadeRequest({ commands, budgetMs: 10, firstCopies: [0, 2] }, 10).firstCopies).toEqual([0, 2]);
    expect(parseFacadeRequest({ commands, budgetMs: 10 }, 10).firstCopies).toBeUndefined();
    for (const bad of [[2, 0], [0, 0], [3], [-1], ['0'], 'all', [0.5]]) {
      expect(() => parseFacadeRequest({ commands, budgetMs: 10, firstCopies: bad }, 10)).toThrow(expect.objectContaining({ code: 'Invalid', details: expect.objectContaining({ field: 'firstCopies' }) }));
    }
  });
});
