import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { TenureError } from '../../errors/errors.ts';
import type { TenureClient } from '../../client/tenure-client.ts';
import { NS, TestCluster, eventually } from './harness.ts';

const tc = new TestCluster('race');
let a: TenureClient;
let b: TenureClient;

beforeAll(async () => {
  await tc.startAll();
  await tc.leader();
  a = await tc.client();
  b = await tc.client();
});

afterAll(() => tc.shutdown());

async function settled<T>(p: Promise<T>): Promise<{ ok: true; value: T } | { ok: false; err: TenureError }> {
  try {
    return { ok: true, value: await p };
  } catch (err) {
    return { ok: false, err: err as TenureError };
  }
}

describe('claim race, wait, expiry and fencing (3 nodes, real NATS)', () => {
  it('exactly one of two racing claims wins; the loser waits for revoke, then for expiry', async () => {
    const key = { namespace: NS, model: 'm1', lease: 'app1' };
    const [ra, rb] = await Promise.all([settled(a.claim(key, 'a/0', 10_000)), settled(b.claim(key, 'b/0', 10_000))]);
    const winners = [ra, rb].filter((r) => r.ok);
    expect(winners).toHaveLength(1);
    const [winner, loser, winnerName, loserName] = ra.ok ? [a, b, 'a/0', 'b/0'] : [b, a, 'b/0', 'a/0'];
    const lost = (ra.ok ? rb : ra) as { ok: false; err: TenureError };
    expect(lost.err).toBeInstanceOf(TenureError);
    expect(lost.err.code).toBe('Held');
    expect(lost.err.details.holder).toBe(winnerName);
    const firstToken = (winners[0] as { value: { token: number } }).value.token;

    // Every node agrees on the holder (linearizable read from each node's point of view).
    for (const n of tc.running()) await eventually(() => n.stateMachine.fsm.get(key)?.holder === winnerName, 5000, 'replication');

    // The loser waits; the wait must not return while the lease is held.
    let woke = false;
    const waiting = loser.wait(key, { deadlineMs: 10_000 }).then((r) => {
      woke = true;
      return r;
    });
    await new Promise((r) => setTimeout(r, 300));
    expect(woke).toBe(false);
    await winner.revoke(key, winnerName);
    const w1 = await waiting;
    expect(w1).toMatchObject({ free: true, reason: 'revoked' });

    // The loser now claims; the old winner stops extending; the next waiter wakes on expiry.
    const second = await loser.claim(key, loserName, 1500);
    expect(second.token).toBeGreaterThan(firstToken);
    const t0 = Date.now();
    const w2 = await winner.wait(key, { deadlineMs: 10_000 });
    expect(w2).toMatchObject({ free: true, reason: 'expired' });
    expect(Date.now() - t0).toBeGreaterThanOrEqual(300);

    // Fencing tokens strictly increase across holders.
    const third = await winner.claim(key, winnerName, 10_000);
    expect(third.token).toBeGreaterThan(second.token);
    expect(third.extended).toBe(false);
    const view = await loser.get(key, { linearizable: true });
    expect(view).toMatchObject({ holder: winnerName, token: third.token });
  });

  it('wait returns at once for a free lease and fails with DeadlineExceeded while it stays held', async () => {
    const free = { namespace: NS, model: 'm1', lease: 'never-claimed' };
    expect(await a.wait(free, { deadlineMs: 2000 })).toMatchObject({ free: true, reason: 'free' });
    const held = { namespace: NS, model: 'm1', lease: 'held' };
    await a.claim(held, 'a/0', 60_000);
    const t0 = Date.now();
    await expect(b.wait(held, { deadlineMs: 500 })).rejects.toMatchObject({ code: 'DeadlineExceeded' });
    expect(Date.now() - t0).toBeLessThan(2000);
    const ac = new AbortController();
    const p = b.wait(held, { deadlineMs: 5000, signal: ac.signal });
    setTimeout(() => ac.abort(), 100);
    await expect(p).rejects.toMatchObject({ code: 'Cancelled' });
  });

  it('extend by a non-holder is NotHeld; extend by the holder never shortens', async () => {
    const key = { namespace: NS, model: 'm2', lease: 'ext' };
    const c = await a.claim(key, 'a/0', 5000);
    await expect(b.extend(key, 'b/0', 5000)).rejects.toMatchObject({ code: 'NotHeld', details: { holder: 'a/0' } });
    const e = await a.extend(key, 'a/0', 100);
    expect(e.expiry).toBeGreaterThanOrEqual(c.expiry);
    expect(e.token).toBe(c.token);
  });
});
