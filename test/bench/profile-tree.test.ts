import { describe, expect, it } from 'vitest';
import { inclusive, under, type TreeProfile } from '../../bench/profile-tree.ts';

// root → main → a → b, a → a (recursion) → c; root → (idle)
const frame = (id: number, name: string, children: number[] = []) => ({ id, callFrame: { functionName: name, url: `file:///x/y/${name}.ts`, lineNumber: 0 }, children });
const profile: TreeProfile = {
  nodes: [frame(1, '(root)', [2, 7]), frame(2, 'main', [3]), frame(3, 'a', [4, 5]), frame(4, 'b'), frame(5, 'a', [6]), frame(6, 'c'), frame(7, '(idle)')],
  // self: main 1 ms, a 2 ms, b 3 ms, inner a 1 ms, c 4 ms, idle 10 ms (time deltas in µs)
  samples: [2, 3, 3, 4, 4, 4, 5, 6, 6, 6, 6, 7],
  timeDeltas: [1000, 1000, 1000, 1000, 1000, 1000, 1000, 1000, 1000, 1000, 1000, 10_000],
};

describe('profile tree views', () => {
  it('inclusive time counts a recursing function once per sample and leaves idle out', () => {
    const { busyMs, rows } = inclusive(profile);
    expect(busyMs).toBe(11);
    const ms = Object.fromEntries(rows.map((r) => [r.name.split(' ')[0], r.ms]));
    expect(ms).toEqual({ '(root)': 11, main: 11, a: 10, c: 4, b: 3 });
    expect(rows.find((r) => r.name.startsWith('a '))!.pct).toBe(90.9);
    expect(rows.find((r) => r.name.startsWith('b '))!.name).toBe('b y/b.ts:1');
  });

  it('under a function lists the self time of everything below it, itself included', () => {
    const { ms, rows } = under(profile, 'a');
    expect(ms).toBe(10);
    expect(rows.map((r) => [r.name.split(' ')[0], r.ms])).toEqual([
      ['c', 4],
      ['a', 3],
      ['b', 3],
    ]);
    expect(under(profile, 'nothing').ms).toBe(0);
  });
});
