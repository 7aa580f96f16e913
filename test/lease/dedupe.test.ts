import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { DedupeTable, type ClientEntry } from '../../lease/dedupe.ts';
import { CopyOnWrite } from '../../lease/state.ts';
import type { LeaseResult } from '../../lease/types.ts';

const ok = (n: number): LeaseResult => ({ ok: true, holder: `h${n}`, expiry: n, token: n });

/** The reference: an array in recency order (least recent first), every operation done the obvious way. */
class Reference {
  rows: { id: string; seq: number; result: LeaseResult; lastUsed: number }[] = [];
  constructor(
    readonly max: number,
    readonly ttl: number,
  ) {}
  get(id: string) {
    return this.rows.find((r) => r.id === id);
  }
  use(id: string, seq: number, result: LeaseResult, now: number): void {
    const i = this.rows.findIndex((r) => r.id === id);
    if (i >= 0) this.rows.splice(i, 1);
    else while (this.rows.length > this.max - 1) this.rows.shift();
    this.rows.push({ id, seq, result, lastUsed: now });
  }
  expire(now: number): number {
    const keep = this.rows.findIndex((r) => r.lastUsed + this.ttl >= now);
    const dropped = keep < 0 ? this.rows.length : keep;
    this.rows.splice(0, dropped);
    return dropped;
  }
  trim(limit: number): void {
    while (this.rows.length > limit) this.rows.shift();
  }
}

type Op =
  | { kind: 'command'; client: number; seq: number }
  | { kind: 'tick'; by: number }
  | { kind: 'trim'; limit: number }
  | { kind: 'snapshot' }
  | { kind: 'snapshotDone' };

const op: fc.Arbitrary<Op> = fc.oneof(
  { weight: 8, arbitrary: fc.record({ kind: fc.constant('command' as const), client: fc.integer({ min: 0, max: 11 }), seq: fc.integer({ min: 1, max: 4 }) }) },
  { weight: 2, arbitrary: fc.record({ kind: fc.constant('tick' as const), by: fc.integer({ min: 0, max: 40 }) }) },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant('trim' as const), limit: fc.integer({ min: 0, max: 8 }) }) },
  { weight: 1, arbitrary: fc.constant({ kind: 'snapshot' as const }) },
  { weight: 1, arbitrary: fc.constant({ kind: 'snapshotDone' as const }) },
);

/** Entries captured while a snapshot is open are replaced, never changed. */
function frozen(captures: { entries: ClientEntry[]; frozen: string }[]): void {
  for (const c of captures) expect(JSON.stringify(c.entries.map(({ seq, result, lastUsed }) => ({ seq, result, lastUsed })))).toBe(c.frozen);
}

describe('dedupe table (LRU by a linked list)', () => {
  it('keeps the same entries, in the same recency order, as a reference LRU; captured entries never change', () => {
    fc.assert(
      fc.property(fc.integer({ min: 1, max: 8 }), fc.array(op, { maxLength: 120 }), (max, ops) => {
        const cow = new CopyOnWrite();
        const table = new DedupeTable(max, 50, cow);
        const ref = new Reference(max, 50);
        const captures: { entries: ClientEntry[]; frozen: string }[] = [];
        let now = 0;
        let n = 0;
        for (const o of ops) {
          if (o.kind === 'command') {
            // What the FSM does: look up, then either touch (the same seq again) or remember.
            const id = `client-${o.client}`;
            const seen = table.get(id);
            expect(seen?.seq).toBe(ref.get(id)?.seq);
            if (seen !== undefined && seen.seq === o.seq) {
              table.touch(id, seen, now);
              ref.use(id, seen.seq, seen.result, now);
            } else {
              const result = ok(++n);
              table.remember(id, o.seq, result, now);
              ref.use(id, o.seq, result, now);
            }
          } else if (o.kind === 'tick') {
            now += o.by;
            expect(table.expire(now)).toBe(ref.expire(now));
          } else if (o.kind === 'trim') {
            table.trim(o.limit);
            ref.trim(o.limit);
          } else if (o.kind === 'snapshot') {
            cow.begin();
            const { entries } = table.capture();
            captures.push({ entries, frozen: JSON.stringify(entries.map(({ seq, result, lastUsed }) => ({ seq, result, lastUsed }))) });
          } else if (cow.open > 0) {
            frozen(captures);
            cow.end();
            if (cow.open === 0) captures.length = 0; // no snapshot open: entries may change in place again
          }
          const { ids, entries } = table.capture();
          expect(ids).toEqual(ref.rows.map((r) => r.id));
          expect(entries.map(({ seq, result, lastUsed }) => ({ seq, result, lastUsed }))).toEqual(ref.rows.map(({ seq, result, lastUsed }) => ({ seq, result, lastUsed })));
          expect(table.size).toBe(ref.rows.length);
        }
        frozen(captures);
      }),
      { numRuns: 400 },
    );
  });

  it('restores entries in the order given and trims to a smaller bound, least recent first', () => {
    const table = new DedupeTable(3, 1000, new CopyOnWrite());
    for (let i = 0; i < 5; i++) table.load(`c${i}`, i, ok(i), i);
    table.load('c1', 9, ok(9), 9); // loaded again: moves to the end
    table.trim();
    expect(table.capture().ids).toEqual(['c3', 'c4', 'c1']);
    expect(table.get('c1')?.seq).toBe(9);
    expect(table.get('c0')).toBeUndefined();
  });

  it('a client expired by the same command that looked it up is added again, not relinked', () => {
    const table = new DedupeTable(10, 5, new CopyOnWrite());
    table.remember('clock', 1, ok(1), 0);
    expect(table.get('clock')?.seq).toBe(1);
    expect(table.expire(100)).toBe(1); // a setTime's own expiry drops its client
    table.remember('clock', 2, ok(2), 100);
    expect(table.capture().ids).toEqual(['clock']);
    expect(table.size).toBe(1);
  });
});
