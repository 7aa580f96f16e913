/**
 * `submitMany` through the swappable forwarder (simulated 3-node cluster): on the leader a batch's
 * commands go into the admission queue together and each is answered by its slot, exactly once;
 * on a follower they travel in one facade request.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { TenureError } from '../../errors/errors.ts';
import type { ForwardOptions } from '../../actors/forwarder.ts';
import type { LeaseCommand, LeaseResult } from '../../lease/types.ts';
import { claim } from './commands.ts';
import { ForwardingCluster, type SimForwardingNode } from './harness.ts';

let cluster: ForwardingCluster | null = null;
afterEach(async () => {
  await cluster?.shutdown();
  cluster = null;
});

type Answer = { count: number; code?: string; result?: LeaseResult };

function submitMany(node: SimForwardingNode, cmds: LeaseCommand[], opts: ForwardOptions[]): Answer[] {
  const answers: Answer[] = cmds.map(() => ({ count: 0 }));
  node.stack.forwarder.submitMany(cmds, opts, (i, err, result) => {
    answers[i].count++;
    if (err) answers[i].code = err instanceof TenureError ? err.code : `untyped:${String(err)}`;
    else answers[i].result = result;
  });
  return answers;
}

const leases = (node: SimForwardingNode) => node.gate.proposed.map((cmd) => (cmd.op === 'claim' ? `${cmd.key.lease}:${cmd.holder}` : cmd.op));

describe('submitMany', () => {
  it('on the leader, queues the commands together and answers each by its slot exactly once', async () => {
    cluster = new ForwardingCluster({ facadeLeader: { maxInflightProposals: 1 } });
    const leader = await cluster.elect();
    const c = cluster;
    const entriesBefore = leader.entries.length;
    const aborted = new AbortController();
    aborted.abort();
    const later = new AbortController();
    const soon = c.clock.now() + 5000;
    const cmds = [claim('a'), claim('b'), claim('a', 'other/0'), claim('late'), claim('gone'), claim('watched')];
    const opts: ForwardOptions[] = [
      { deadline: soon },
      { deadline: soon },
      { deadline: soon },
      { deadline: c.clock.now() }, // no time left: refused, never proposed
      { deadline: soon, signal: aborted.signal }, // cancelled before queueing
      { deadline: soon, signal: later.signal }, // a signal that never fires
    ];
    const answers = submitMany(leader, cmds, opts);
    // Refusals are answered at once, before anything runs.
    expect(answers.map((a) => a.code)).toEqual([undefined, undefined, undefined, 'DeadlineExceeded', 'Cancelled', undefined]);
    expect(await c.runUntil(() => answers.every((a) => a.count > 0), 1000)).toBe(true);
    await c.run(100);
    expect(answers.map((a) => a.count)).toEqual([1, 1, 1, 1, 1, 1]);
    expect(answers[0].result).toMatchObject({ ok: true, holder: 'a/0' });
    expect(answers[1].result).toMatchObject({ ok: true, holder: 'b/0' });
    expect(answers[2].result).toMatchObject({ ok: false, code: 'Held', holder: 'a/0' });
    expect(answers[5].result).toMatchObject({ ok: true, holder: 'watched/0' });
    expect(leases(leader)).toEqual(['a:a/0', 'b:b/0', 'a:other/0', 'watched:watched/0']);
    expect(leader.entries.length - entriesBefore).toBe(1); // one batch, one Raft entry
    expect(leader.stack.forwarder.inFlightOn('facade')).toBe(0);
  });

  it('on a follower, sends the commands to the leader in one facade request and answers each', async () => {
    cluster = new ForwardingCluster();
    const leader = await cluster.elect();
    const [f1] = cluster.followers();
    const before = f1.stack.facade.batching;
    const cmds = [claim('x'), claim('y'), claim('x', 'other/0')];
    const answers = submitMany(f1, cmds, cmds.map(() => ({ deadline: cluster!.clock.now() + 5000 })));
    expect(await cluster.runUntil(() => answers.every((a) => a.count > 0), 1000)).toBe(true);
    expect(answers.map((a) => a.result?.ok)).toEqual([true, true, false]);
    const after = f1.stack.facade.batching;
    expect(after.requests - before.requests).toBe(1);
    expect(after.commands - before.commands).toBe(3);
    expect(leases(leader)).toEqual(['x:x/0', 'y:y/0', 'x:other/0']);
    expect(f1.stack.forwarder.inFlightOn('facade')).toBe(0);
  });

  it('answers every command NotLeader at once on a node that stopped leading, and Cancelled once closed', async () => {
    cluster = new ForwardingCluster();
    const leader = await cluster.elect();
    const [f1] = cluster.followers();
    void leader.raft.transferLeadership(f1.id);
    expect(await cluster.runUntil(() => f1.raft.role === 'leader' && leader.raft.leader === f1.id, 2000)).toBe(true);
    // The old leader's facade forwards to the new one now; its own queue takes nothing.
    const local: Answer[] = [];
    leader.stack.facadeLeader.enqueueMany([claim('p'), claim('q')], [{ deadline: cluster.clock.now() + 1000 }, { deadline: cluster.clock.now() + 1000 }], (i, err) => {
      local[i] = { count: (local[i]?.count ?? 0) + 1, code: err?.code };
    });
    expect(local.map((a) => a.code)).toEqual(['NotLeader', 'NotLeader']);
    await leader.stack.forwarder.close();
    const closed = submitMany(leader, [claim('r')], [{ deadline: cluster.clock.now() + 1000 }]);
    expect(closed).toEqual([{ count: 1, code: 'Cancelled' }]);
  });
});
