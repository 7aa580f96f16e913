import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { LeaseFsm } from '../../lease/fsm.ts';
import { batchesArb, CommandMaker } from './commands.ts';

/**
 * `claimRefusal` is what the facade leader answers without a log entry (actors/held-claims.ts):
 * whenever it names a result, applying the claim at that point gives exactly that result and
 * changes no lease; whenever it names none, applying the claim grants or lengthens the lease.
 */
describe('LeaseFsm.claimRefusal', () => {
  it('names exactly what apply answers for a claim that changes no lease, and nothing else', () => {
    let refused = 0;
    let granted = 0;
    fc.assert(
      fc.property(fc.integer({ min: 1, max: 7 }), fc.integer({ min: 0, max: 120 }), batchesArb(50), (maxClients, clientTtlMs, batches) => {
        const fsm = new LeaseFsm({ maxClients, clientTtlMs, expiryBucketMs: 4 });
        const maker = new CommandMaker();
        for (const batch of batches) {
          for (const step of batch.steps) {
            const cmd = maker.make(step, fsm.time());
            const index = maker.nextIndex(1);
            if (cmd.op !== 'claim') {
              fsm.apply(index, [cmd]);
              continue;
            }
            const refusal = fsm.claimRefusal(cmd);
            const before = fsm.list();
            const pins = before.map((l) => fsm.pinsOf(l.key));
            const statsBefore = fsm.stats();
            const out = fsm.apply(index, [cmd]);
            if (refusal !== null) {
              refused++;
              expect(out.results[0]).toEqual(refusal);
              expect(out.events).toEqual([]);
              expect(fsm.list()).toEqual(before);
              expect(before.map((l) => fsm.pinsOf(l.key))).toEqual(pins);
              expect(fsm.stats().nextToken).toBe(statsBefore.nextToken);
            } else {
              granted++;
              expect(out.results[0].ok).toBe(true);
            }
          }
        }
      }),
      { numRuns: 400 },
    );
    // The generators meet on a few hot keys: both outcomes must have been exercised.
    expect(refused).toBeGreaterThan(100);
    expect(granted).toBeGreaterThan(100);
  }, 120_000);

  it('looks only: no dedupe entry, no recency', () => {
    const fsm = new LeaseFsm({ maxClients: 2 });
    const key = { namespace: 'n', model: 'm', lease: 'l' };
    fsm.apply(1, [{ op: 'claim', key, holder: 'a', durationMs: 1000, clientId: 'ca', seq: 1 }]);
    const held = fsm.claimRefusal({ op: 'claim', key, holder: 'b', durationMs: 1000, clientId: 'cb', seq: 1 });
    expect(held).toMatchObject({ ok: false, code: 'Held', holder: 'a' });
    expect(fsm.stats().clients).toBe(1);
    // The same holder, or a free key: the claim would change the lease, so no refusal.
    expect(fsm.claimRefusal({ op: 'claim', key, holder: 'a', durationMs: 1000, clientId: 'ca2', seq: 1 })).toBeNull();
    expect(fsm.claimRefusal({ op: 'claim', key: { ...key, lease: 'free' }, holder: 'b', durationMs: 1000, clientId: 'cb', seq: 1 })).toBeNull();
    // A repeat answers the first outcome; a stale seq is refused as apply would.
    expect(fsm.claimRefusal({ op: 'claim', key, holder: 'a', durationMs: 1000, clientId: 'ca', seq: 1 })).toMatchObject({ ok: true, holder: 'a', token: 1 });
    fsm.apply(2, [{ op: 'claim', key, holder: 'a', durationMs: 1000, clientId: 'ca', seq: 5 }]);
    expect(fsm.claimRefusal({ op: 'claim', key, holder: 'b', durationMs: 1000, clientId: 'ca', seq: 4 })).toMatchObject({ ok: false, code: 'Invalid', field: 'seq' });
  });
});
