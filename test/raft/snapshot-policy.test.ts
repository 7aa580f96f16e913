import { describe, expect, it } from 'vitest';
import { SnapshotPolicy } from '../../actors/snapshot-policy.ts';

const MB = 1024 * 1024;

/** Log bytes (at 1 KiB an entry) at which `policy` first decides to take a snapshot, or null. */
function firstTakeAt(policy: SnapshotPolicy, upToBytes = 64 * MB): number | null {
  for (let bytes = 0; bytes <= upToBytes; bytes += 64 * 1024) {
    if (policy.decide(Math.floor(bytes / 1024), bytes, 0) === 'take') return bytes;
  }
  return null;
}

describe('snapshot policy', () => {
  it('scales both bounds by a per-node factor in [1, 1.5), drawn again after every snapshot, reproducibly', () => {
    const p = new SnapshotPolicy({ everyEntries: 10_000, everyBytes: 8 * MB, seed: 42 });
    const scales: number[] = [];
    for (let i = 0; i < 50; i++) {
      const s = p.scale;
      scales.push(s);
      expect(s).toBeGreaterThanOrEqual(1);
      expect(s).toBeLessThan(1.5);
      // Below both scaled bounds: not yet; at either: take.
      expect(p.decide(Math.floor(10_000 * s) - 1, Math.floor(8 * MB * s) - 1, 0)).toBe('not-yet');
      expect(p.decide(Math.ceil(10_000 * s), 0, 0)).toBe('take');
      expect(p.decide(0, Math.ceil(8 * MB * s), 0)).toBe('take');
      p.taken();
    }
    expect(new Set(scales).size).toBe(50);
    expect(Math.max(...scales) - Math.min(...scales)).toBeGreaterThan(0.3); // the factors spread
    const again = new SnapshotPolicy({ everyEntries: 10_000, everyBytes: 8 * MB, seed: 42 });
    expect(again.scale).toBe(scales[0]);
  });

  it('lets the byte bound grow with the last snapshot, as before', () => {
    const p = new SnapshotPolicy({ everyEntries: 1e9, everyBytes: 8 * MB, seed: 1, jitter: 0 });
    expect(p.decide(10, 9 * MB, 0)).toBe('take');
    expect(p.decide(10, 9 * MB, 20 * MB)).toBe('not-yet'); // a 20 MB table is not rewritten for 9 MB of log
    expect(p.decide(10, 20 * MB, 20 * MB)).toBe('take');
  });

  it('takes three nodes apart: their first snapshots fall at different log sizes', () => {
    const at = [1, 2, 3].map((seed) => firstTakeAt(new SnapshotPolicy({ everyEntries: 1e9, everyBytes: 8 * MB, seed: seed * 7919 })));
    expect(new Set(at).size).toBe(3);
    for (const bytes of at) {
      expect(bytes).toBeGreaterThanOrEqual(8 * MB);
      expect(bytes).toBeLessThan(12 * MB + 64 * 1024);
    }
  });

  it('defers a due snapshot while the node is busy, up to 1.5× the bounds, and counts one deferral per wait', () => {
    let busy = true;
    const p = new SnapshotPolicy({ everyEntries: 1e9, everyBytes: 8 * MB, seed: 5, jitter: 0, busy: () => busy });
    expect(p.decide(0, 7 * MB, 0)).toBe('not-yet');
    expect(p.decide(0, 8 * MB, 0)).toBe('defer');
    expect(p.decide(0, 10 * MB, 0)).toBe('defer');
    expect(p.deferrals).toBe(1);
    expect(p.decide(0, 12 * MB, 0)).toBe('take'); // the hard bound: memory stays bounded whatever the load
    p.taken();
    expect(p.decide(0, 9 * MB, 0)).toBe('defer');
    expect(p.deferrals).toBe(2);
    busy = false;
    expect(p.decide(0, 9 * MB, 0)).toBe('take'); // quiet again: at once
    p.taken();
    // Without a busy signal (simulations, tests) nothing is ever deferred.
    const plain = new SnapshotPolicy({ everyEntries: 100, everyBytes: 8 * MB, seed: 5, jitter: 0 });
    expect(plain.decide(100, 0, 0)).toBe('take');
    expect(plain.deferrals).toBe(0);
  });

  it('rejects nonsense', () => {
    expect(() => new SnapshotPolicy({ everyEntries: 1, everyBytes: 1, seed: 1, jitter: -1 })).toThrow(RangeError);
    expect(() => new SnapshotPolicy({ everyEntries: 1, everyBytes: 1, seed: 1, hardFactor: 0.5 })).toThrow(RangeError);
  });
});
