import { describe, expect, it } from 'vitest';
import { beforeDeadline, SharedRequest } from '../../actors/read-waiters.ts';
import { TenureError } from '../../errors/errors.ts';

/** A request the test answers by hand, remembering the budget it was given. */
function manualAsks() {
  const asked: { ms: number; resolve: (v: number) => void; reject: (e: Error) => void }[] = [];
  const ask = (ms: number) => new Promise<number>((resolve, reject) => asked.push({ ms, resolve, reject }));
  return { asked, ask };
}

const settled = async <T>(p: Promise<T>) => p.then((v) => ({ ok: true as const, v }), (e: unknown) => ({ ok: false as const, e }));

describe('SharedRequest (a follower’s ReadIndex calls to the leader)', () => {
  it('shares one next request among callers arriving while one is out, with the latest of their deadlines', async () => {
    let t = 1_000;
    const now = () => t;
    const shared = new SharedRequest<number>();
    const { asked, ask } = manualAsks();
    const first = shared.run(t + 5_000, ask, now);
    expect(asked.map((a) => a.ms)).toEqual([5_000]);
    // Three callers arrive while it is out; the one that arrives first has almost no time left.
    const hasty = shared.run(t + 30, ask, now);
    const patient = shared.run(t + 4_000, ask, now);
    const middling = shared.run(t + 2_000, ask, now);
    expect(asked).toHaveLength(1); // they wait for the next one, none starts yet
    t += 10;
    asked[0].resolve(7);
    expect(await first).toBe(7);
    await Promise.resolve();
    await new Promise((r) => setImmediate(r));
    // One request for all three, allowed as long as the latest deadline (4,000 ms from 1,000, at 1,010).
    expect(asked.map((a) => a.ms)).toEqual([5_000, 3_990]);
    asked[1].resolve(9);
    expect(await Promise.all([hasty, patient, middling])).toEqual([9, 9, 9]);
  });

  it('a failed shared request fails those who shared it, and the next caller starts afresh', async () => {
    const shared = new SharedRequest<number>();
    const { asked, ask } = manualAsks();
    const a = shared.run(Date.now() + 1_000, ask);
    asked[0].reject(new TenureError('Timeout', 'no reply'));
    expect((await settled(a)).ok).toBe(false);
    const b = shared.run(Date.now() + 1_000, ask);
    expect(asked).toHaveLength(2);
    asked[1].resolve(3);
    expect(await b).toBe(3);
  });
});

describe('beforeDeadline', () => {
  it('passes the work’s outcome through when it settles in time', async () => {
    expect(await beforeDeadline(Promise.resolve(1), 1_000, () => new Error('late'))).toBe(1);
    const failed = await settled(beforeDeadline(Promise.reject(new TenureError('NoLeader', 'x')), 1_000, () => new Error('late')));
    expect(failed.ok).toBe(false);
    expect((failed as { e: TenureError }).e.code).toBe('NoLeader');
  });

  it('answers with the deadline error when the work is slower, and ignores its later outcome', async () => {
    let finish: (v: number) => void = () => {};
    const slow = new Promise<number>((r) => (finish = r));
    const started = Date.now();
    const out = await settled(beforeDeadline(slow, 20, () => new TenureError('DeadlineExceeded', 'deadline passed before the read was confirmed')));
    expect(out.ok).toBe(false);
    expect((out as { e: TenureError }).e.code).toBe('DeadlineExceeded');
    expect(Date.now() - started).toBeGreaterThanOrEqual(15);
    finish(1); // settles afterwards: nothing happens
  });
});
