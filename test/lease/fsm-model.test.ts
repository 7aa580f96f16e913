import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { LeaseFsm } from '../../lease/fsm.ts';
import type { LeaseResult } from '../../lease/types.ts';
import { ALL_KEYS, CommandMaker, MODELS, NAMESPACES, batchesArb } from './commands.ts';
import { ReferenceModel } from './reference-model.ts';

// Messages are prose for humans; codes and details are the contract.
function withoutMessage(r: LeaseResult): unknown {
  if (r.ok) return r;
  expect(typeof r.message).toBe('string');
  expect(r.message.length).toBeGreaterThan(0);
  const { message: _m, ...rest } = r;
  return rest;
}

export function expectSameReads(fsm: LeaseFsm, model: ReferenceModel): void {
  expect(fsm.time()).toBe(model.time);
  for (const key of ALL_KEYS) {
    expect(fsm.get(key)).toEqual(model.get(key));
    expect(fsm.pinsOf(key)).toEqual(model.pinnedBy(key));
  }
  expect(fsm.list()).toEqual(model.list());
  for (const namespace of NAMESPACES) {
    expect(fsm.list({ namespace })).toEqual(model.list({ namespace }));
    for (const model_ of MODELS) expect(fsm.list({ namespace, model: model_ })).toEqual(model.list({ namespace, model: model_ }));
  }
  for (const model_ of MODELS) expect(fsm.list({ model: model_ })).toEqual(model.list({ model: model_ }));
  // Records exist only for keys that are held or pinned: nothing leaks.
  const live = ALL_KEYS.filter((key) => model.get(key) !== null || model.pinnedBy(key).length > 0);
  expect(fsm.stats()).toMatchObject({ leases: model.leases.length, records: live.length, clients: model.clients.length });
}

// Expiry buckets as narrow as 1 ms spread the test's short leases over many buckets (the default
// 1 s bucket would hold them all); a restored FSM keeps the default, so the two also differ.
const optionsArb = fc.record({
  maxClients: fc.integer({ min: 1, max: 7 }),
  clientTtlMs: fc.integer({ min: 0, max: 120 }),
  expiryBucketMs: fc.integer({ min: 1, max: 16 }),
});

describe('LeaseFsm against the reference model', () => {
  it('agrees on results, events and reads after every entry', () => {
    fc.assert(
      fc.property(optionsArb, batchesArb(50), (opts, batches) => {
        const fsm = new LeaseFsm(opts);
        const model = new ReferenceModel(opts.maxClients, opts.clientTtlMs);
        const maker = new CommandMaker();
        for (const batch of batches) {
          const index = maker.nextIndex(batch.gap);
          const cmds = batch.steps.map((s) => maker.make(s, model.time));
          const got = fsm.apply(index, cmds);
          const want = model.apply(index, cmds);
          expect(got.results.map(withoutMessage)).toEqual(want.results.map(withoutMessage));
          expect(got.events).toEqual(want.events);
          expectSameReads(fsm, model);
        }
      }),
      { numRuns: 500 },
    );
  }, 120_000); // generous: a loaded CI machine runs the whole suite in parallel

  it('agrees with the default, roomy dedupe limits too', () => {
    fc.assert(
      fc.property(batchesArb(60), (batches) => {
        const fsm = new LeaseFsm();
        const model = new ReferenceModel(100_000, 10 * 60 * 1000);
        const maker = new CommandMaker();
        for (const batch of batches) {
          const index = maker.nextIndex(batch.gap);
          const cmds = batch.steps.map((s) => maker.make(s, model.time));
          const got = fsm.apply(index, cmds);
          const want = model.apply(index, cmds);
          expect(got.results.map(withoutMessage)).toEqual(want.results.map(withoutMessage));
          expect(got.events).toEqual(want.events);
        }
        expectSameReads(fsm, model);
      }),
      { numRuns: 300 },
    );
  }, 120_000);
});
