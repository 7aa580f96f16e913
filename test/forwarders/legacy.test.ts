import { afterEach, describe, expect, it } from 'vitest';
import type { ForwardingStackOptions } from '../../actors/transport-switch.ts';
import type { LeaseCommand, LeaseResult } from '../../lease/types.ts';
import { claim } from './commands.ts';
import { ForwardingCluster, track, type Outcome, type SimForwardingNode } from './harness.ts';

let cluster: ForwardingCluster | null = null;
afterEach(async () => {
  await cluster?.shutdown();
  cluster = null;
});

const LEGACY: Partial<ForwardingStackOptions> = { transport: 'legacy-pubsub', legacy: { deliveryTimeoutMs: 100, responseTimeoutMs: 300 } };

type Tracked = { readonly outcome: Outcome<LeaseResult> };
const settled = (ts: Tracked[]) => ts.every((t) => t.outcome.status !== 'pending');
const codes = (ts: Tracked[]) => ts.map((t) => (t.outcome.status === 'error' ? t.outcome.code : t.outcome.status));
const leaseKey = (lease: string) => ({ namespace: 'application-leadership', model: 'm1', lease });

function submit(node: SimForwardingNode, cmd: LeaseCommand, budgetMs = 10_000): Tracked {
  return track(node.stack.forwarder.submit(cmd, { deadline: cluster!.clock.now() + budgetMs }));
}

describe('legacy pubsub forwarder (simulated 3-node cluster)', () => {
  it('applies one command per Raft entry, where the facade coalesces', async () => {
    cluster = new ForwardingCluster(LEGACY);
    const leader = await cluster.elect();
    const [f1] = cluster.followers();
    const before = leader.entries.length;
    const legacy = Array.from({ length: 30 }, (_, i) => submit(f1, claim(`l${i}`)));
    expect(await cluster.runUntil(() => settled(legacy), 1000)).toBe(true);
    expect(codes(legacy)).toEqual(Array(30).fill('ok'));
    expect(leader.entries.length - before).toBe(30);

    f1.stack.forwarder.switchTo('facade');
    const mid = leader.entries.length;
    const facade = Array.from({ length: 30 }, (_, i) => submit(f1, claim(`f${i}`)));
    expect(await cluster.runUntil(() => settled(facade), 1000)).toBe(true);
    expect(codes(facade)).toEqual(Array(30).fill('ok'));
    expect(leader.entries.length - mid).toBeLessThan(15);
  });

  it('loses a command silently when no leader listens: the caller waits its full time', async () => {
    cluster = new ForwardingCluster(LEGACY);
    await cluster.start(); // nobody is leader yet, so nobody subscribes to the hub
    const n1 = cluster.nodes.get('n1')!;
    const start = cluster.clock.now();
    let legacyDone = -1;
    let facadeDone = -1;
    const legacy = track(n1.stack.legacy.submit(claim('lost'), { deadline: start + 10_000 }).finally(() => (legacyDone = cluster!.clock.now())));
    const facade = track(n1.stack.facade.submit(claim('lost'), { deadline: start + 10_000 }).finally(() => (facadeDone = cluster!.clock.now())));
    expect(await cluster.runUntil(() => settled([legacy, facade]), 1000, 1)).toBe(true);
    expect(codes([legacy, facade])).toEqual(['Timeout', 'NoLeader']);
    expect(legacyDone - start).toBeGreaterThanOrEqual(300); // the whole response wait
    expect(facadeDone).toBeLessThan(legacyDone);
    expect(n1.stack.legacy.counters).toMatchObject({ published: 1, responseTimeouts: 1 });
  });

  it('still applies a command after its caller timed out ("did my claim happen?")', async () => {
    cluster = new ForwardingCluster(LEGACY);
    const leader = await cluster.elect();
    const [f1] = cluster.followers();
    leader.gate.hold();
    const t = submit(f1, claim('ghost'));
    await cluster.run(500);
    expect(codes([t])).toEqual(['Timeout']);
    leader.gate.release();
    const everywhere = () => [...cluster!.nodes.values()].every((n) => n.fsm.fsm.get(leaseKey('ghost'))?.holder === 'ghost/0');
    expect(await cluster.runUntil(everywhere, 1000)).toBe(true);
    expect(await cluster.runUntil(() => f1.stack.legacy.counters.lateResponses === 1, 500)).toBe(true);
  });

  it('lets its backlog grow without bound under overload', async () => {
    cluster = new ForwardingCluster(LEGACY);
    const leader = await cluster.elect();
    const [f1, f2] = cluster.followers();
    const depths: number[] = [];
    let n = 0;
    for (let t = 1; t <= 300; t++) {
      for (let i = 0; i < 40; i++) submit(i % 2 ? f1 : f2, claim(`o${n++}`));
      await cluster.run(1);
      if (t % 100 === 0) depths.push(leader.stack.legacyLeader.backlogDepth);
    }
    await cluster.run(300); // the first unanswered callers' response waits run out
    // Nothing refuses: the backlog only grows while offered load exceeds what Raft commits.
    expect(depths[0]).toBeGreaterThan(100);
    expect(depths[1]).toBeGreaterThan(depths[0]);
    expect(depths[2]).toBeGreaterThan(depths[1]);
    expect(leader.stack.legacyLeader.counters.peakBacklog).toBeGreaterThanOrEqual(depths[2]);
    expect(f1.stack.legacy.counters.responseTimeouts).toBeGreaterThan(0);
  });
});
