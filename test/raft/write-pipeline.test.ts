import { describe, expect, it } from 'vitest';
import { WritePipeline } from '../../actors/write-pipeline.ts';

/** A write whose completion the test controls. */
function gate(): { promise: Promise<void>; land: () => void; fail: (err: Error) => void } {
  let land!: () => void;
  let fail!: (err: Error) => void;
  const promise = new Promise<void>((resolve, reject) => {
    land = resolve;
    fail = reject;
  });
  return { promise, land, fail };
}

const settle = () => new Promise((r) => setImmediate(r));

/** A pipeline of `limit` writes whose failures and follow-ups the test records. */
function recording(limit: number): { p: WritePipeline; errors: Error[]; order: string[] } {
  const errors: Error[] = [];
  return { p: new WritePipeline(limit, (e) => errors.push(e)), errors, order: [] };
}

describe('WritePipeline', () => {
  it('runs what follows each write in issue order, only once it and every earlier write landed', async () => {
    const { p, errors, order } = recording(4);
    const [a, b, c] = [gate(), gate(), gate()];
    p.add(a.promise, 1, () => order.push('a'));
    p.add(b.promise, 2, () => order.push('b'));
    p.add(null, 3, () => order.push('nothing to write'));
    p.add(c.promise, 4, () => order.push('c'));
    expect(p.inFlight).toBe(4);
    expect(p.full).toBe(true);

    c.land();
    b.land();
    await settle();
    expect(order).toEqual([]); // a, issued first, has not landed

    a.land();
    await p.idle();
    expect(order).toEqual(['a', 'b', 'nothing to write', 'c']);
    expect(p.inFlight).toBe(0);
    expect(p.full).toBe(false);
    expect(errors).toEqual([]);
  });

  it('stops at the first failed write: reports it once and runs nothing after it', async () => {
    const { p, errors, order } = recording(4);
    const [a, b, c] = [gate(), gate(), gate()];
    p.add(a.promise, 5, () => order.push('a'));
    p.add(b.promise, 6, () => order.push('b'));
    p.add(c.promise, 7, () => order.push('c'));
    a.land();
    b.fail(new Error('disk full'));
    c.land();
    await p.idle();
    expect(order).toEqual(['a']);
    expect(errors.map((e) => e.message)).toEqual(['disk full']);

    p.add(null, 8, () => order.push('later'));
    await p.idle();
    expect(order).toEqual(['a']);
    expect(errors).toHaveLength(1);
    expect(p.inFlight).toBe(0);
  });

  it('treats a throwing follow-up as a failure of the node', async () => {
    const { p, errors, order } = recording(2);
    p.add(Promise.resolve(), 9, () => {
      throw new Error('invariant broken');
    });
    p.add(Promise.resolve(), 10, () => order.push('after'));
    await p.idle();
    expect(errors.map((e) => e.message)).toEqual(['invariant broken']);
    expect(order).toEqual([]);
  });

  it('resolves a generation once a write covering it is durable, and says when one is awaited uncovered', async () => {
    const p = new WritePipeline(4, () => {});
    const early = p.mark();
    const a = gate();
    p.add(a.promise, p.current, () => {});
    const late = p.mark(); // a change after that write was issued: the next write covers it
    let earlyDone = false;
    let lateDone = false;
    void p.durable(early).then(() => (earlyDone = true));
    void p.durable(late).then(() => (lateDone = true));
    expect(p.awaited).toBe(true);
    a.land();
    await settle();
    expect([earlyDone, lateDone]).toEqual([true, false]);

    p.add(null, p.current, () => {});
    expect(p.awaited).toBe(false);
    await p.idle();
    await settle();
    expect(lateDone).toBe(true);
    await expect(p.durable(early)).resolves.toBeUndefined();
  });
});
