import { describe, expect, it } from 'vitest';
import { ExpiryIndex } from '../../lease/expiry-index.ts';
import { LeaseFsm } from '../../lease/fsm.ts';
import { NOT_FILED, newRecord, type LeaseRecord } from '../../lease/state.ts';
import type { LeaseCommand } from '../../lease/types.ts';

function held(lease: string, expiry: number): LeaseRecord {
  const rec = newRecord({ namespace: 'ns', model: 'm', lease }, 0);
  rec.holder = 'h';
  rec.expiry = expiry;
  return rec;
}

describe('ExpiryIndex', () => {
  it('offers as candidates exactly the buckets that start before now', () => {
    const idx = new ExpiryIndex(100);
    const a = held('a', 50); // bucket 0
    const b = held('b', 150); // bucket 1
    const c = held('c', 1_000); // bucket 10
    for (const r of [a, b, c]) idx.place(r);
    expect(idx.size).toBe(3);
    const ids = (now: number) => idx.candidates(now).map((r) => r.id).sort();
    expect(ids(0)).toEqual([]);
    expect(ids(1)).toEqual([a.id]); // bucket 0 partly due: the caller checks expiry
    expect(ids(101)).toEqual([a.id, b.id].sort());
    expect(ids(100)).toEqual([a.id]); // bucket 1 starts at 100: nothing in it is before 100
    expect(ids(10_000)).toEqual([a.id, b.id, c.id].sort());
  });

  it('moves a lease when its expiry changes and forgets it when removed', () => {
    const idx = new ExpiryIndex(100);
    const a = held('a', 50);
    idx.place(a);
    a.expiry = 950;
    idx.place(a);
    expect(idx.size).toBe(1);
    expect(idx.candidates(500)).toEqual([]);
    expect(idx.candidates(901)).toEqual([a]);
    idx.remove(a);
    expect(a.bucket).toBe(NOT_FILED);
    expect(idx.size).toBe(0);
    expect(idx.candidates(10_000)).toEqual([]);
    idx.remove(a); // twice is harmless
    expect(idx.size).toBe(0);
  });

  it('a copy takes the place of the record it copies', () => {
    const idx = new ExpiryIndex(100);
    const a = held('a', 50);
    idx.place(a);
    const copy = { ...a };
    idx.replace(a, copy);
    expect(idx.candidates(60)).toEqual([copy]);
    copy.expiry = 250;
    idx.place(copy); // moves the copy, not a stale original
    expect(idx.candidates(60)).toEqual([]);
    expect(idx.size).toBe(1);
    idx.replace(held('b', 10), held('b', 10)); // not filed: nothing to do
    expect(idx.size).toBe(1);
    expect(() => idx.replace({ ...a, bucket: copy.bucket }, held('x', 1))).toThrow(/missing from its bucket/);
  });

  it('rejects a non-positive bucket width', () => {
    expect(() => new ExpiryIndex(0)).toThrow(RangeError);
  });
});

describe('LeaseFsm expiry through the index', () => {
  let seq = 0;
  type Bare<C> = C extends LeaseCommand ? Omit<C, 'clientId' | 'seq'> : never;
  const cmd = (c: Bare<LeaseCommand>): LeaseCommand => ({ ...c, clientId: 'c', seq: ++seq }) as LeaseCommand;
  const key = (lease: string) => ({ namespace: 'ns', model: 'm', lease });

  it('expires many leases in order of expiry, keeps pinned ones until unpinned, and leaves the rest', () => {
    const fsm = new LeaseFsm({ expiryBucketMs: 10 });
    let index = 0;
    const claims: LeaseCommand[] = [];
    // 300 leases, expiries spread over 30 buckets, claimed in reverse key order.
    for (let i = 299; i >= 0; i--) claims.push(cmd({ op: 'claim', key: key(`l${String(i).padStart(3, '0')}`), holder: 'h', durationMs: 1 + i }));
    fsm.apply(++index, claims);
    fsm.apply(++index, [cmd({ op: 'pin', key: key('l000'), entity: 'upgrade' })]);
    fsm.apply(++index, [cmd({ op: 'extend', key: key('l001'), holder: 'h', durationMs: 1_000 })]);

    const tick = fsm.apply(++index, [cmd({ op: 'setTime', oldTime: 0, newTime: 151 })]);
    const expired = tick.events.filter((e) => e.kind === 'expired').map((e) => e.key.lease);
    // Expiry = 1 + i < 151 → i ≤ 149; l000 pinned, l001 extended.
    const want = Array.from({ length: 150 }, (_, i) => `l${String(i).padStart(3, '0')}`).filter((l) => l !== 'l000' && l !== 'l001');
    expect(expired).toEqual(want);
    expect(fsm.stats().leases).toBe(300 - want.length);

    fsm.apply(++index, [cmd({ op: 'unpin', key: key('l000'), entity: 'upgrade' })]);
    const next = fsm.apply(++index, [cmd({ op: 'setTime', oldTime: 151, newTime: 152 })]);
    // l000 (unpinned now) and l150 (expiry 151 < 152).
    expect(next.events.filter((e) => e.kind === 'expired').map((e) => e.key.lease)).toEqual(['l000', 'l150']);
    expect(fsm.get(key('l001'))?.holder).toBe('h');
  });
});
