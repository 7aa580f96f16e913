import { describe, expect, it } from 'vitest';
import { LEVELS, MemoryGovernor, levelFor } from '../../actors/memory-governor.ts';

const MB = 2 ** 20;

function governed(budgetMB = 256) {
  let rss = 100 * MB;
  const applied: number[] = [];
  const over: number[] = [];
  const g = new MemoryGovernor({ budgetBytes: budgetMB * MB, rss: () => rss, apply: (p) => applied.push(p), onOverBudget: (r) => over.push(r) });
  return { g, applied, over, setRss: (mb: number) => (rss = mb * MB) };
}

describe('memory governor', () => {
  it('maps RSS as a fraction of the budget to a heap growing level', () => {
    expect(levelFor(100 * MB, 256 * MB)).toBe(0);
    expect(LEVELS[levelFor(0.6 * 256 * MB, 256 * MB)][1]).toBe(100);
    expect(LEVELS[levelFor(230 * MB, 256 * MB)][1]).toBe(10);
    expect(LEVELS[levelFor(250 * MB, 256 * MB)][1]).toBe(5);
    expect(LEVELS[levelFor(400 * MB, 256 * MB)][1]).toBe(5);
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
