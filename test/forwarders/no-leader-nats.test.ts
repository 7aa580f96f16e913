/**
 * Seed failure (a) on a real nats-server: nobody leads (one voter of three is up, so no quorum).
 * The legacy path publishes into the void and its caller learns nothing until its whole wait has
 * passed; the facade path says NoLeader at once — from the local Raft view, or, when this node's
 * view is stale and names a dead leader, from NATS's no-responders status after one round trip.
 */
import { afterAll, beforeAll, expect, it } from 'vitest';
import { RaftNode } from '../../actors/raft-node.ts';
import { LeaseStateMachine } from '../../actors/lease-state-machine.ts';
import { FacadeForwarder } from '../../actors/facade-forwarder.ts';
import { ForwardingStack } from '../../actors/transport-switch.ts';
import type { NatsBus } from '../../bus/nats-bus.ts';
import { TenureError } from '../../errors/errors.ts';
import { silentLogger } from '../../log/logger.ts';
import { LeaderTracker } from '../../machines/forwarder/leader-tracker.ts';
import { MemoryStorage } from '../../storage/memory.ts';
import { connectBus, uniqueCluster } from '../support/nats.ts';
import { claim } from './commands.ts';

const RESPONSE_WAIT_MS = 400;
const cluster = uniqueCluster('fwdnl');
let bus: NatsBus;
let raft: RaftNode;
let stack: ForwardingStack;

beforeAll(async () => {
  bus = await connectBus();
  raft = new RaftNode({
    id: 'n1',
    cluster,
    voters: ['n1', 'n2', 'n3'],
    bus,
    storage: new MemoryStorage(),
    stateMachine: new LeaseStateMachine(),
    logger: silentLogger,
    electionMinMs: 200,
    electionMaxMs: 400,
    heartbeatMs: 50,
  });
  await raft.start();
  stack = new ForwardingStack({ bus, cluster, raft, legacy: { deliveryTimeoutMs: 1000, responseTimeoutMs: RESPONSE_WAIT_MS } });
  stack.start();
});

afterAll(async () => {
  await stack?.close();
  await raft?.stop();
  await bus?.close();
});

async function timed(p: Promise<unknown>): Promise<{ code: string; ms: number }> {
  const start = performance.now();
  try {
    await p;
    return { code: 'ok', ms: performance.now() - start };
  } catch (err) {
    return { code: err instanceof TenureError ? err.code : String(err), ms: performance.now() - start };
  }
}

it('legacy waits out its full response time; facade answers NoLeader first', async () => {
  expect(raft.leader).toBeNull();
  const deadline = Date.now() + 10_000;
  const [legacy, facade] = await Promise.all([
    timed(stack.legacy.submit(claim('nl1'), { deadline })),
    timed(stack.facade.submit(claim('nl2'), { deadline })),
  ]);
  expect(legacy.code).toBe('Timeout');
  expect(legacy.ms).toBeGreaterThanOrEqual(RESPONSE_WAIT_MS - 5); // silent loss: the whole wait
  expect(stack.legacy.counters).toMatchObject({ published: 1, deliveryTimeouts: 0, responseTimeouts: 1 });
  expect(facade.code).toBe('NoLeader');
  expect(facade.ms).toBeLessThan(legacy.ms);
});

it('a stale view naming a dead leader becomes NoLeader after one no-responders round trip', async () => {
  // This node still believes n2 leads, but n2 is gone: nobody serves its facade subject.
  const tracker = new LeaderTracker({ discover: () => 'n2' });
  const stale = new FacadeForwarder({ bus, cluster, nodeId: 'n1', tracker });
  const [legacy, facade] = await Promise.all([
    timed(stack.legacy.submit(claim('nl3'), { deadline: Date.now() + 10_000 })),
    timed(stale.submit(claim('nl4'), { deadline: Date.now() + 10_000 })),
  ]);
  expect(facade.code).toBe('NoLeader');
  expect(tracker.counters.discoveries).toBe(2); // the first look-up, then one re-discovery
  expect(stale.counters).toMatchObject({ remote: 1, noLeader: 1 });
  expect(legacy.code).toBe('Timeout');
  expect(facade.ms).toBeLessThan(legacy.ms);
  tracker.stop();
  await stale.close();
});
