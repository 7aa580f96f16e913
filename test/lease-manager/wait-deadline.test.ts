import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { TenureClient } from '../../client/tenure-client.ts';
import { beforeDeadline } from '../../actors/read-waiters.ts';
import { TenureError } from '../../errors/errors.ts';
import { NS, TestCluster } from './harness.ts';

// A wait's deadline counts from its arrival, its read barrier included: a slow barrier (a herd of
// waits, a lagging follower) comes out of the wait's budget instead of being added to it.
const tc = new TestCluster('waitdl');
let client: TenureClient;

beforeAll(async () => {
  await tc.startAll();
  await tc.leader();
  client = await tc.client();
});

afterAll(() => tc.shutdown());

describe('wait deadline (3 nodes, real NATS)', () => {
  it('answers DeadlineExceeded by the wait’s own deadline even when the read barrier takes longer', async () => {
    const key = { namespace: NS, model: 'm', lease: 'slow-barrier' };
    await client.claim(key, 'holder/0', 60_000);
    // Every node's barrier now takes 1.5 s, longer than the wait's whole 1 s budget; like the real
    // one it gives up with DeadlineExceeded when the budget it is handed runs out.
    const restore: (() => void)[] = [];
    for (const n of tc.running()) {
      const raft = n.raft as unknown as { readBarrier: (ms?: number) => Promise<number> };
      const real = raft.readBarrier.bind(raft);
      raft.readBarrier = (ms = 5_000) =>
        beforeDeadline(
          new Promise((r) => setTimeout(r, 1_500)).then(() => real(ms)),
          ms,
          () => new TenureError('DeadlineExceeded', 'deadline passed before the read was confirmed'),
        );
      restore.push(() => (raft.readBarrier = real));
    }
    try {
      const started = Date.now();
      const err = await client.wait(key, { deadlineMs: 1_000 }).then(
        () => null,
        (e: unknown) => e as TenureError,
      );
      const took = Date.now() - started;
      // The node's own answer (not the client's timer, which would say Timeout at 2 s), at its
      // deadline: before the barrier finished, let alone a second budget after it.
      expect(err?.code).toBe('DeadlineExceeded');
      expect(took).toBeGreaterThanOrEqual(900);
      expect(took).toBeLessThan(1_450);
    } finally {
      for (const r of restore) r();
    }
  });

  it('still parks a wait whose barrier is quick, until release', async () => {
    const key = { namespace: NS, model: 'm', lease: 'quick-barrier' };
    await client.claim(key, 'holder/0', 60_000);
    const waiting = client.wait(key, { deadlineMs: 10_000 });
    await new Promise((r) => setTimeout(r, 200));
    await client.revoke(key, 'holder/0');
    expect(await waiting).toMatchObject({ free: true, reason: 'revoked' });
  });
});
