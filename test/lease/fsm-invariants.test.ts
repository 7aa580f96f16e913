import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { LeaseFsm } from '../../lease/fsm.ts';
import { failureToError } from '../../lease/types.ts';
import type { LeaseCommand, LeaseKey } from '../../lease/types.ts';
import { ALL_KEYS, CommandMaker, batchesArb } from './commands.ts';

const key: LeaseKey = { namespace: 'application-leadership', model: 'm1', lease: 'app1' };
const idOf = (k: LeaseKey) => `${k.namespace}/${k.model}/${k.lease}`;

function clock(fsm: LeaseFsm, index: number, to: number, seq: number) {
  return fsm.apply(index, [{ op: 'setTime', oldTime: fsm.time(), newTime: to, clientId: 'clock', seq }]);
}

describe('invariants over random histories', () => {
  const opts = fc.record({ maxClients: fc.integer({ min: 1, max: 7 }), clientTtlMs: fc.integer({ min: 0, max: 120 }) });

  it('fencing tokens strictly increase across all claims ever; extend never shortens; pinned leases never expire', () => {
    fc.assert(
      fc.property(opts, batchesArb(60), (o, batches) => {
        const fsm = new LeaseFsm(o);
        const maker = new CommandMaker();
        let lastToken = 0;
        for (const b of batches) {
          // Track expiry and pins through the batch's events, starting from the reads before it.
          const expiries = new Map(ALL_KEYS.map((k) => [idOf(k), fsm.get(k)?.expiry]));
          const pinned = new Map(ALL_KEYS.map((k) => [idOf(k), fsm.pinsOf(k).length > 0]));
          const { events } = fsm.apply(maker.nextIndex(b.gap), b.steps.map((s) => maker.make(s, fsm.time())));
          for (const e of events) {
            const id = idOf(e.key);
            if (e.kind === 'claimed') {
              expect(e.token).toBeGreaterThan(lastToken);
              lastToken = e.token;
            } else if (e.kind === 'extended') {
              expect(e.expiry).toBeGreaterThan(expiries.get(id)!);
            } else if (e.kind === 'expired') {
              expect(pinned.get(id)).toBe(false);
              expect(e.expiry).toBeLessThan(fsm.time());
            } else if (e.kind === 'pinned' || e.kind === 'unpinned') {
              pinned.set(id, e.pinnedBy.length > 0);
            }
            if (e.kind === 'claimed' || e.kind === 'extended') expiries.set(id, e.expiry);
          }
        }
      }),
      { numRuns: 300 },
    );
  });

  it('the dedupe table never exceeds maxClients', () => {
    fc.assert(
      fc.property(opts, batchesArb(60), (o, batches) => {
        const fsm = new LeaseFsm(o);
        const maker = new CommandMaker();
        for (const b of batches) {
          fsm.apply(maker.nextIndex(b.gap), b.steps.map((s) => maker.make(s, fsm.time())));
          expect(fsm.stats().clients).toBeLessThanOrEqual(o.maxClients);
        }
      }),
      { numRuns: 200 },
    );
  });
});

describe('lease semantics, by example', () => {
  it('claims a free key, refuses another holder with Held, treats the holder’s claim as extend', () => {
    const fsm = new LeaseFsm();
    const r = fsm.apply(1, [
      { op: 'claim', key, holder: 'app1/0', durationMs: 10_000, clientId: 'a', seq: 1 },
      { op: 'claim', key, holder: 'app1/1', durationMs: 10_000, clientId: 'b', seq: 1 },
      { op: 'claim', key, holder: 'app1/0', durationMs: 20_000, clientId: 'a', seq: 2 },
    ]);
    expect(r.results[0]).toEqual({ ok: true, holder: 'app1/0', expiry: 10_000, token: 1, extended: false });
    expect(r.results[1]).toMatchObject({ ok: false, code: 'Held', holder: 'app1/0' });
    expect(r.results[2]).toEqual({ ok: true, holder: 'app1/0', expiry: 20_000, token: 1, extended: true });
    expect(r.events.map((e) => e.kind)).toEqual(['claimed', 'extended']);
    expect(r.events.every((e) => e.index === 1)).toBe(true);
    const held = r.results[1];
    if (held.ok) throw new Error('expected Held');
    expect(failureToError(held).toWire()).toEqual({ code: 'Held', message: held.message, holder: 'app1/0' });
  });

  it('extend keeps the later expiry and emits nothing when nothing changes', () => {
    const fsm = new LeaseFsm();
    fsm.apply(1, [{ op: 'claim', key, holder: 'h', durationMs: 10_000, clientId: 'a', seq: 1 }]);
    const r = fsm.apply(2, [{ op: 'extend', key, holder: 'h', durationMs: 1_000, clientId: 'a', seq: 2 }]);
    expect(r.results[0]).toEqual({ ok: true, holder: 'h', expiry: 10_000, token: 1 });
    expect(r.events).toEqual([]);
    expect(fsm.apply(3, [{ op: 'extend', key, holder: 'x', durationMs: 1_000, clientId: 'a', seq: 3 }]).results[0]).toMatchObject({
      code: 'NotHeld',
      holder: 'h',
    });
  });

  it('expires a lease only once its expiry is strictly before the new time', () => {
    const fsm = new LeaseFsm();
    fsm.apply(1, [{ op: 'claim', key, holder: 'h', durationMs: 1_000, clientId: 'a', seq: 1 }]);
    expect(clock(fsm, 2, 1_000, 1).events).toEqual([]);
    expect(fsm.get(key)).toMatchObject({ holder: 'h', remainingMs: 0 });
    expect(clock(fsm, 3, 1_001, 2).events).toEqual([{ kind: 'expired', key, holder: 'h', expiry: 1_000, token: 1, index: 3 }]);
    expect(fsm.get(key)).toBeNull();
  });

  it('setTime out of sync or not forward is OutOfSync with the current time, and changes nothing', () => {
    const fsm = new LeaseFsm();
    clock(fsm, 1, 500, 1);
    const r = fsm.apply(2, [
      { op: 'setTime', oldTime: 400, newTime: 900, clientId: 'clock', seq: 2 },
      { op: 'setTime', oldTime: 500, newTime: 500, clientId: 'clock', seq: 3 },
    ]);
    expect(r.results).toMatchObject([{ code: 'OutOfSync', current: 500 }, { code: 'OutOfSync', current: 500 }]);
    expect(fsm.time()).toBe(500);
  });

  it('pins: remembered on a free key, hold off expiry, and expiry resumes on the next tick after unpin', () => {
    const fsm = new LeaseFsm();
    const pin = fsm.apply(1, [
      { op: 'pin', key, entity: 'machine-0', clientId: 'p', seq: 1 },
      { op: 'pin', key, entity: 'machine-0', clientId: 'p', seq: 2 },
      { op: 'claim', key, holder: 'h', durationMs: 10, clientId: 'a', seq: 1 },
    ]);
    expect(pin.events.map((e) => e.kind)).toEqual(['pinned', 'claimed']);
    expect(pin.events[0]).toMatchObject({ holder: null, expiry: null, token: null, entity: 'machine-0', pinnedBy: ['machine-0'] });
    clock(fsm, 2, 1_000, 1);
    expect(fsm.get(key)).toMatchObject({ holder: 'h', pinnedBy: ['machine-0'] });
    const unpin = fsm.apply(3, [{ op: 'unpin', key, entity: 'machine-0', clientId: 'p', seq: 3 }]);
    expect(unpin.events[0]).toMatchObject({ kind: 'unpinned', holder: 'h', expiry: 10, token: 1, pinnedBy: [] });
    expect(fsm.get(key)?.holder).toBe('h'); // nothing expires between ticks
    expect(clock(fsm, 4, 1_001, 2).events.map((e) => e.kind)).toEqual(['expired']);
  });

  it('revoke frees the key; a later claim gets a larger token', () => {
    const fsm = new LeaseFsm();
    fsm.apply(1, [{ op: 'claim', key, holder: 'h', durationMs: 10, clientId: 'a', seq: 1 }]);
    expect(fsm.apply(2, [{ op: 'revoke', key, holder: 'x', clientId: 'a', seq: 2 }]).results[0]).toMatchObject({ code: 'NotHeld' });
    expect(fsm.apply(3, [{ op: 'revoke', key, holder: 'h', clientId: 'a', seq: 3 }]).events[0]).toMatchObject({ kind: 'revoked', token: 1 });
    expect(fsm.apply(4, [{ op: 'claim', key, holder: 'x', durationMs: 10, clientId: 'b', seq: 1 }]).results[0]).toMatchObject({ token: 2 });
  });

  it('expired leases leave in order of expiry, then of token (claim order)', () => {
    const fsm = new LeaseFsm();
    const claim = (lease: string, durationMs: number, i: number): LeaseCommand => ({ op: 'claim', key: { namespace: 'n', model: 'm', lease }, holder: 'h', durationMs, clientId: `c${i}`, seq: 1 });
    fsm.apply(1, [claim('b', 2, 0), claim('a', 2, 1), claim('d', 1, 2), claim('c', 2, 3)]);
    expect(clock(fsm, 2, 5, 1).events.map((e) => e.key.lease)).toEqual(['d', 'b', 'a', 'c']);
  });

  it('refuses to apply an index that is not after the last one', () => {
    const fsm = new LeaseFsm();
    fsm.apply(5, []);
    expect(() => fsm.apply(5, [])).toThrow(/index 5 applied after 5/);
  });
});

describe('dedupe', () => {
  it('a retry returns the first outcome and applies nothing; an older seq is stale', () => {
    const fsm = new LeaseFsm();
    const claim: LeaseCommand = { op: 'claim', key, holder: 'h', durationMs: 10, clientId: 'a', seq: 7 };
    const first = fsm.apply(1, [claim]);
    fsm.apply(2, [{ op: 'revoke', key, holder: 'h', clientId: 'b', seq: 1 }]);
    const retry = fsm.apply(3, [claim]);
    expect(retry.results[0]).toBe(first.results[0]);
    expect(retry.events).toEqual([]);
    const stale = fsm.apply(4, [{ ...claim, seq: 6 }]);
    expect(stale).toEqual({ results: [{ ok: false, code: 'Invalid', field: 'seq', message: 'stale sequence' }], events: [] });
  });

  it('stays bounded by maxClients, forgetting the least recently used', () => {
    const fsm = new LeaseFsm({ maxClients: 100 });
    for (let i = 0; i < 10_000; i += 100) {
      const cmds: LeaseCommand[] = [];
      for (let j = i; j < i + 100; j++) cmds.push({ op: 'extend', key, holder: 'h', durationMs: 10, clientId: `c${j}`, seq: 1 });
      fsm.apply(1 + i, cmds);
      expect(fsm.stats().clients).toBeLessThanOrEqual(100);
    }
    // c9999 is remembered (duplicate → same NotHeld, no effect); c0 was forgotten, so seq 0 applies anew.
    const r = fsm.apply(20_000, [
      { op: 'claim', key, holder: 'h', durationMs: 10, clientId: 'c9999', seq: 1 },
      { op: 'claim', key, holder: 'h', durationMs: 10, clientId: 'c0', seq: 0 },
    ]);
    expect(r.results.map((x) => x.ok)).toEqual([false, true]);
  });

  it('forgets clients idle for clientTtlMs of global time', () => {
    const fsm = new LeaseFsm({ clientTtlMs: 1_000 });
    fsm.apply(1, [{ op: 'claim', key, holder: 'h', durationMs: 10, clientId: 'a', seq: 1 }]);
    clock(fsm, 2, 1_000, 1);
    expect(fsm.stats().clients).toBe(2); // a was used at 0: 0 + 1000 is not before 1000
    clock(fsm, 3, 1_001, 2);
    expect(fsm.stats().clients).toBe(1); // only the clock
  });
});
