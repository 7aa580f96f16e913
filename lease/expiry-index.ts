/**
 * Held leases filed by expiry, so a `setTime` tick visits only the leases that may have expired
 * instead of every lease the FSM holds.
 *
 * Measured before it existed (closed-loop claims, 5 s leases, ≈ 50k held): each 1 s tick scanned
 * every record on every node, and event-loop delay rose from ≈ 20 ms to 50–75 ms the moment the
 * first leases began to expire — a cost that grows with the table, not with the work due.
 *
 * Leases sit in buckets of `bucketMs` of expiry (bucket b holds expiry in [b·bucketMs,
 * (b+1)·bucketMs)); each record carries its bucket number (`LeaseRecord.bucket`, NOT_FILED when
 * not filed), so moving a lease costs two Set operations and no allocation. The buckets hold the
 * records themselves, not their ids, so a tick reads its candidates without a lookup per lease;
 * the FSM swaps in the copy when a snapshot makes it copy a filed record (`replace`). A tick to
 * `now` takes the buckets that start before `now`: the caller checks each candidate exactly (held,
 * unpinned, expiry < now) and puts them in its own order, so the result is the same set a full
 * scan would find. A pinned lease past its expiry stays filed and is looked at again on every tick
 * until it is unpinned, extended or released (pins are rare: Juju pins during upgrades).
 *
 * Not part of the snapshot: it is derived, and rebuilt by `place` as a restore adds leases.
 */
import { NOT_FILED, type LeaseRecord } from './state.ts';

export class ExpiryIndex {
  private readonly buckets = new Map<number, Set<LeaseRecord>>();

  constructor(readonly bucketMs = 1000) {
    if (!(bucketMs > 0)) throw new RangeError('bucketMs must be positive');
  }

  /** Leases filed (sums the buckets: for tests and diagnostics, not the hot path). */
  get size(): number {
    let n = 0;
    for (const set of this.buckets.values()) n += set.size;
    return n;
  }

  /** Files a held record under its current expiry (moving it if it was filed elsewhere). */
  place(rec: LeaseRecord): void {
    const b = Math.floor(rec.expiry / this.bucketMs);
    if (rec.bucket === b) return;
    if (rec.bucket !== NOT_FILED) this.unfile(rec, rec.bucket);
    let set = this.buckets.get(b);
    if (set === undefined) this.buckets.set(b, (set = new Set()));
    set.add(rec);
    rec.bucket = b;
  }

  /** Removes a record that is no longer held. */
  remove(rec: LeaseRecord): void {
    if (rec.bucket === NOT_FILED) return;
    this.unfile(rec, rec.bucket);
    rec.bucket = NOT_FILED;
  }

  /** Files `copy` where `old` was (a copy-on-write copy of a filed record takes its place). */
  replace(old: LeaseRecord, copy: LeaseRecord): void {
    if (old.bucket === NOT_FILED) return;
    const set = this.buckets.get(old.bucket);
    if (set === undefined || !set.delete(old)) throw new Error('expiry index: a filed record is missing from its bucket');
    set.add(copy);
    copy.bucket = old.bucket;
  }

  /**
   * Every filed lease whose expiry may be before `now`: the whole of each bucket that starts
   * before `now` (the last of them only partly due). The caller checks each one.
   */
  candidates(now: number): LeaseRecord[] {
    const out: LeaseRecord[] = [];
    for (const [b, set] of this.buckets) {
      if (b * this.bucketMs >= now) continue;
      for (const rec of set) out.push(rec);
    }
    return out;
  }

  private unfile(rec: LeaseRecord, b: number): void {
    const set = this.buckets.get(b);
    if (set === undefined) return;
    set.delete(rec);
    if (set.size === 0) this.buckets.delete(b);
  }
}
