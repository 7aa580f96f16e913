import { describe, expect, it } from 'vitest';
import { comparePairs, figuresOf, formatComparison, median, type RunFigures } from '../../bench/ab-compare.ts';

const run = (okPerSec: number, p99ms: number, machineMicros: number | null, leaderMicros: number | null, stealPct: number | null): RunFigures => ({
  ops: { claim: { okPerSec, p99ms } },
  machineMicros,
  leaderMicros,
  stealPct,
});

describe('A/B of two code versions (bench/ab-compare.ts)', () => {
  it('reads ok/s, p99, machine CPU, the final leader and steal from a result JSON', () => {
    const result = {
      summary: {
        ops: { claim: { okPerSec: 15000, p99ms: 40, ok: 1 }, extend: { okPerSec: 2000, p99ms: 9 }, broken: { okPerSec: 'x' } },
        cpuPerOp: { micros: { n1: 20, n2: 40, n3: 21 }, machineMicros: 110, stealPct: 0.4 },
      },
      series: { nodes: { n1: { role: ['leader', 'follower'] }, n2: { role: ['follower', 'leader'] }, n3: { role: ['follower', 'follower'] } } },
    };
    expect(figuresOf(result)).toEqual({ ops: { claim: { okPerSec: 15000, p99ms: 40 }, extend: { okPerSec: 2000, p99ms: 9 } }, machineMicros: 110, leaderMicros: 40, stealPct: 0.4 });
    expect(figuresOf({ summary: { ops: {} } })).toEqual({ ops: {}, machineMicros: null, leaderMicros: null, stealPct: null });
  });

  it('summarises per-pair new/base ratios by their median, leaving out pairs with too much steal', () => {
    const pairs: [RunFigures, RunFigures][] = [
      [run(10000, 50, 120, 40, 0.1), run(11000, 45, 110, 36, 0.2)], // ×1.1 ok/s, ×0.9 leader
      [run(12000, 40, 100, 40, 0.3), run(11400, 44, 105, 42, 0.1)], // ×0.95
      [run(9000, 60, 150, 50, 20), run(15000, 30, 90, 30, 0.1)], // left out: steal 20 % on the base run
      [run(10000, 50, 120, 40, 1), run(12000, 50, 120, null, 1)], // ×1.2; no leader figure on one side
    ];
    const c = comparePairs(pairs, 5);
    expect(c.used).toBe(3);
    expect(c.leftOut).toEqual([3]);
    expect(c.ops.claim.okPerSec).toMatchObject({ min: 0.95, max: 1.2, above: 2, pairs: 3 });
    expect(c.ops.claim.okPerSec!.median).toBeCloseTo(1.1, 10);
    expect(c.leaderMicros).toMatchObject({ pairs: 2, min: 0.9, max: 1.05 });
    expect(c.leaderMicros!.median).toBeCloseTo(0.975, 10);
    const lines = formatComparison(c);
    expect(lines[0]).toBe('new/base over 3 pair(s); left out for steal: pair 3');
    expect(lines.find((l) => l.startsWith('ok/s claim'))).toContain('×1.100 (0.950–1.200, 2 of 3 above 1)');
  });

  it('has no ratio where no pair has the figure, and a median of an even count is the mean of the middle two', () => {
    const c = comparePairs([[run(1, 1, null, null, null), run(2, 1, null, null, null)]]);
    expect(c.machineMicros).toBeNull();
    expect(formatComparison(c).find((l) => l.startsWith('machine'))).toMatch(/—$/);
    expect(median([4, 1, 3, 2])).toBe(2.5);
    expect(() => median([])).toThrow(RangeError);
  });
});
