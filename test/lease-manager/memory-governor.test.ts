import { describe, expect, it } from 'vitest';
import { COLLECT_AT, LEVELS, MemoryGovernor, levelFor } from '../../actors/memory-governor.ts';

const MB = 2 ** 20;

function governed(budgetMB = 256) {
  let rss = 100 * MB;
  let now = 0;
  const applied: number[] = [];
  const over: number[] = [];
  const collectedAt: number[] = [];
  const g = new MemoryGovernor({
    budgetBytes: budgetMB * MB,
    rss: () => rss,
    apply: (p) => applied.push(p),
    onOverBudget: (r) => over.push(r),
    collect: () => collectedAt.push(now),
    now: () => now,
  });
  return { g, applied, over, collectedAt, setRss: (mb: number) => (rss = mb * MB), advance: (ms: number) => (now += ms) };
}

describe('memory governor', () => {
  it('maps RSS as a fraction of the budget to a heap growing level', () => {
    expect(levelFor(100 * MB, 256 * MB)).toBe(0);
    expect(LEVELS[levelFor(0.6 * 256 * MB, 256 * MB)][1]).toBe(100);
    expect(LEVELS[levelFor(230 * MB, 256 * MB)][1]).toBe(10);
    expect(LEVELS[levelFor(250 * MB, 256 * MB)][1]).toBe(5);
    expect(LEVELS[levelFor(400 * MB, 256 * MB)][1]).toBe(5);
  });

  it('runs a full collection itself near the budget, at most every 2 s', () => {
    const { g, collectedAt, setRss, advance } = governed();
    setRss(COLLECT_AT * 256 - 1);
    for (let i = 0; i < 20; i++, advance(250)) g.sample();
    expect(collectedAt).toEqual([]); // below the line: V8's own collections only
    setRss(COLLECT_AT * 256);
    g.sample(); // t = 5000
    expect(collectedAt).toEqual([5000]);
    setRss(200); // the collection worked
    for (let i = 0; i < 4; i++) {
      advance(250);
      g.sample();
    }
    setRss(250);
    for (let i = 0; i < 8; i++) {
      advance(250);
      g.sample();
    }
    expect(collectedAt).toEqual([5000, 7000]); // not before 2 s had passed
    expect(g.status().collections).toBe(2);
  });

  it('backs off when collecting does not bring RSS down (live data near the budget), up to 30 s', () => {
    const { g, collectedAt, setRss, advance } = governed();
    setRss(255);
    for (let t = 0; t <= 120_000; t += 250) {
      g.sample();
      advance(250);
    }
    const gaps = collectedAt.slice(1).map((t, i) => t - collectedAt[i]);
    expect(gaps.slice(0, 5)).toEqual([4000, 8000, 16000, 30000, 30000]);
    // A collection that helps again (RSS low at the next sample) resets the interval to 2 s.
    const last = collectedAt[collectedAt.length - 1];
    while (collectedAt[collectedAt.length - 1] === last) {
      g.sample();
      advance(250);
    }
    setRss(100);
    g.sample(); // the first sample after that collection: it worked
    setRss(255);
    const helped = collectedAt[collectedAt.length - 1];
    while (collectedAt[collectedAt.length - 1] === helped) {
      advance(250);
      g.sample();
    }
    expect(collectedAt[collectedAt.length - 1] - helped).toBe(2000);
  });

  it('leaves V8 alone well under the budget', () => {
    const { g, applied } = governed();
    for (let i = 0; i < 50; i++) g.sample();
    expect(applied).toEqual([]);
    expect(g.status()).toMatchObject({ budgetMB: 256, heapGrowingPercent: 0, overBudget: false });
  });

  it('tightens at once as RSS rises, and relaxes one level at a time after a quiet spell', () => {
    const { g, applied, setRss } = governed();
    setRss(0.7 * 256);
    g.sample();
    expect(applied).toEqual([50]);
    setRss(0.9 * 256);
    g.sample();
    expect(applied).toEqual([50, 10]);
    setRss(100);
    for (let i = 0; i < 19; i++) g.sample();
    expect(applied).toEqual([50, 10]); // not yet: one dip does not relax anything
    g.sample();
    expect(applied).toEqual([50, 10, 25]);
    for (let i = 0; i < 60; i++) g.sample();
    expect(applied).toEqual([50, 10, 25, 50, 100, 0]);
    expect(g.status().heapGrowingPercent).toBe(0);
  });

  it('a rise during the quiet spell restarts it', () => {
    const { g, applied, setRss } = governed();
    setRss(0.9 * 256);
    g.sample();
    setRss(100);
    for (let i = 0; i < 15; i++) g.sample();
    setRss(0.9 * 256);
    g.sample();
    setRss(100);
    for (let i = 0; i < 19; i++) g.sample();
    expect(applied).toEqual([10]);
  });

  it('reports going over the budget once per excursion and keeps the node running', () => {
    const { g, over, setRss } = governed();
    setRss(300);
    g.sample();
    g.sample();
    expect(over).toEqual([300 * MB]);
    expect(g.status()).toMatchObject({ overBudget: true, heapGrowingPercent: 5, rssMB: 300 });
    setRss(200);
    g.sample();
    setRss(300);
    g.sample();
    expect(over).toEqual([300 * MB, 300 * MB]);
  });

  it('stop hands heap growth back to V8', () => {
    const { g, applied, setRss } = governed();
    setRss(250);
    g.sample();
    g.stop();
    expect(applied).toEqual([5, 0]);
    expect(() => new MemoryGovernor({ budgetBytes: 0 })).toThrow(/positive/);
  });
});
