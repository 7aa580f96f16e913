/**
 * On real NATS, through the facade: a claim a held lease refuses is answered `Held` by the leader
 * without a log entry when it is the only copy of its command (a client's first attempt, or a
 * `nats req` without an identity), and through the log when it says it is a retry.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { connect, type NatsConnection } from '@nats-io/transport-node';
import { ForwardingStack } from '../../actors/transport-switch.ts';
import { TenureError } from '../../errors/errors.ts';
import { natsUrl } from '../support/nats.ts';
import { NS, TestCluster } from './harness.ts';

const tc = new TestCluster('held', ['n1', 'n2', 'n3'], { forwarding: (ctx) => new ForwardingStack({ ...ctx }) });
let nc: NatsConnection;
const key = { namespace: NS, model: 'm1', lease: 'held' };

beforeAll(async () => {
  await tc.startAll();
  await tc.leader();
  nc = await connect({ servers: natsUrl() });
});

afterAll(async () => {
  await nc?.close();
  await tc.shutdown();
});

async function rawJson(body: Record<string, unknown>): Promise<{ code?: string; body: Record<string, unknown> }> {
  const m = await nc.request(`tenure.v1.${tc.cluster}.lease.claim`, new TextEncoder().encode(JSON.stringify(body)), { timeout: 3000 });
  return { code: m.headers?.get('Tenure-Error') || undefined, body: JSON.parse(m.string()) };
}

const heldCounters = () => {
  const leader = tc.running().find((n) => n.raft.role === 'leader')!;
  return (leader.forwarding as ForwardingStack).facadeLeader.held!.counters;
};
/** What each node remembers for (clientId, seq): a claim of a free key by that identity answers the remembered result, or null. */
const remembered = (clientId: string, seq: number) =>
  tc.running().map((n) => n.stateMachine.fsm.claimRefusal({ op: 'claim', key: { ...key, lease: 'never-claimed' }, holder: 'probe', durationMs: 1, clientId, seq }));

describe('claims refused by a held lease, on NATS', () => {
  it('answers first copies without a log entry and retries through it; every node agrees', async () => {
    const owner = await tc.client();
    await owner.claim(key, 'owner/0', 60_000);
    const before = heldCounters().answered;

    // `nats req` without an identity: the node makes a fresh one, so this is the only copy.
    const anon = await rawJson({ ...key, holder: 'human', durationMs: 5000 });
    expect(anon).toMatchObject({ code: 'Held', body: { code: 'Held', holder: 'owner/0' } });
    // A client's first attempt (TenureClient sends `attempt: 1`).
    const rival = await tc.client();
    await expect(rival.claim(key, 'rival/0', 5000)).rejects.toMatchObject({ code: 'Held', details: { holder: 'owner/0' } });
    expect(heldCounters().answered - before).toBe(2);
    await waitAllApplied();
    expect(remembered(`${rival.clientId}/0`, 1)).toEqual([null, null, null]); // no dedupe entry on any node

    // A body that says it is a retry goes through the log: its dedupe entry appears on every node.
    const retry = await rawJson({ ...key, holder: 'human', durationMs: 5000, clientId: 'retrying', seq: 1, attempt: 2 });
    expect(retry).toMatchObject({ code: 'Held' });
    expect(heldCounters().answered - before).toBe(2);
    await waitAllApplied();
    expect(remembered('retrying', 1)).toEqual([0, 1, 2].map(() => expect.objectContaining({ code: 'Held', holder: 'owner/0' })));

    // Once the lease is free, a first copy claims it (through the log).
    await owner.revoke(key, 'owner/0');
    await expect(rival.claim(key, 'rival/0', 5000)).resolves.toMatchObject({ holder: 'rival/0', extended: false });
  });
});

async function waitAllApplied(): Promise<void> {
  for (let i = 0; i < 200; i++) {
    const nodes = tc.running();
    const leader = nodes.find((n) => n.raft.role === 'leader');
    if (leader && nodes.every((n) => n.raft.appliedIndex >= leader.raft.commitIndex)) return;
    await new Promise((r) => setTimeout(r, 10));
  }
  throw new TenureError('Timeout', 'nodes did not catch up');
}
