/**
 * The FSM's in-memory records and the helpers that keep them deterministic: one string id per
 * key with a defined order, and copy-on-write so a snapshot stream sees one consistent state
 * while apply keeps mutating records in place.
 */
import type { LeaseKey } from './types.ts';

// Validated names never contain control characters, so NUL cannot collide, and because it sorts
// below every allowed character, comparing ids compares (namespace, model, lease) tuples.
const SEP = '\u0000';

export function keyId(namespace: string, model: string, lease: string): string {
  return namespace + SEP + model + SEP + lease;
}

/** Code-unit order (never localeCompare, which differs between machines). */
export function compareIds(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

/**
 * One key's state. A record exists while the key is held or pinned: pins on a free key are
 * remembered (as in Juju), so `holder` is null for a key that is only pinned.
 */
export interface LeaseRecord {
  readonly id: string;
  /** Shared with events and reads: treat as read-only. */
  readonly key: LeaseKey;
  holder: string | null;
  expiry: number;
  token: number;
  /** null when nothing pins the key (the common case, no Set allocated). */
  pins: Set<string> | null;
  /** Snapshot epoch this object belongs to; see CopyOnWrite. */
  epoch: number;
  /** The ExpiryIndex bucket this lease is filed under (NOT_FILED when not held): bookkeeping, not state. */
  bucket: number;
}

/** `LeaseRecord.bucket` of a record the expiry index does not hold. */
export const NOT_FILED = -1;

export function newRecord(key: LeaseKey, epoch: number): LeaseRecord {
  // A private copy: the command object may be reused by whoever decoded it. Namespaces and models
  // repeat across leases, so records share one copy of each; the id is built flat (join), not as a
  // chain of concatenations that would keep a cons-string head per record.
  const own = { namespace: intern(key.namespace), model: intern(key.model), lease: key.lease };
  const id = [own.namespace, own.model, own.lease].join(SEP);
  return { id, key: own, holder: null, expiry: 0, token: 0, pins: null, epoch, bucket: NOT_FILED };
}

/** Bound on interned names: past it new names are simply not shared (still correct, just not deduplicated). */
const INTERN_MAX = 4096;
const interned = new Map<string, string>();

/** One shared copy of a namespace or model name. Only sharing changes: the value is the same. */
export function intern(s: string): string {
  const have = interned.get(s);
  if (have !== undefined) return have;
  if (interned.size < INTERN_MAX) interned.set(s, s);
  return s;
}

export function sortedPins(rec: LeaseRecord): string[] {
  return rec.pins === null ? [] : Array.from(rec.pins).sort();
}

/**
 * While a snapshot stream is open it holds references to the objects that existed when it
 * started. Mutating code asks `writable` first: during a snapshot an object from an older epoch
 * is replaced by a copy, so the stream keeps the old version. With no snapshot open this costs
 * one comparison and nothing is copied.
 */
export class CopyOnWrite {
  epoch = 0;
  open = 0;

  begin(): void {
    this.epoch++;
    this.open++;
  }

  end(): void {
    this.open--;
  }

  mustCopy(objEpoch: number): boolean {
    return this.open > 0 && objEpoch !== this.epoch;
  }
}

export function copyRecord(rec: LeaseRecord, epoch: number): LeaseRecord {
  return {
    id: rec.id,
    key: rec.key,
    holder: rec.holder,
    expiry: rec.expiry,
    token: rec.token,
    pins: rec.pins === null ? null : new Set(rec.pins),
    epoch,
    bucket: rec.bucket,
  };
}
