import fc from 'fast-check';
import { Packr } from 'msgpackr';
import { describe, expect, it } from 'vitest';
import { LeaseFsm } from '../../lease/fsm.ts';
import { SnapshotFormatError } from '../../lease/snapshot.ts';
import type { LeaseCommand } from '../../lease/types.ts';
import { ALL_KEYS, type Batch, CommandMaker, MODELS, NAMESPACES, batchesArb } from './commands.ts';

/** Every read the FSM answers, gathered for comparison. */
function readAll(fsm: LeaseFsm) {
  return {
    time: fsm.time(),
    stats: fsm.stats(),
    keys: ALL_KEYS.map((k) => [fsm.get(k), fsm.pinsOf(k)]),
    all: fsm.list(),
    byNamespace: NAMESPACES.map((namespace) => fsm.list({ namespace })),
    byModel: NAMESPACES.flatMap((namespace) => MODELS.map((model) => fsm.list({ namespace, model }))),
  };
}

function run(fsm: LeaseFsm, maker: CommandMaker, batches: Batch[]) {
  return batches.map((b) => {
    const index = maker.nextIndex(b.gap);
    return fsm.apply(index, b.steps.map((s) => maker.make(s, fsm.time())));
  });
}

async function* trickle(chunks: Iterable<Uint8Array>): AsyncGenerator<Uint8Array> {
  for (const c of chunks) {
    await Promise.resolve();
    yield c;
  }
}

// Expiry buckets as narrow as 1 ms spread the test's short leases over many buckets (the default
// 1 s bucket would hold them all); a restored FSM keeps the default, so the two also differ.
const optionsArb = fc.record({
  maxClients: fc.integer({ min: 1, max: 7 }),
  clientTtlMs: fc.integer({ min: 0, max: 120 }),
  expiryBucketMs: fc.integer({ min: 1, max: 16 }),
});

describe('snapshot and restore', () => {
  it('restored FSM answers every read and every later command the same', async () => {
    await fc.assert(
      fc.asyncProperty(
        optionsArb,
        batchesArb(30),
        batchesArb(20),
        fc.integer({ min: 256, max: 4096 }),
        fc.boolean(),
        async (opts, before, after, maxChunk, async) => {
          const fsm = new LeaseFsm(opts);
          const maker = new CommandMaker();
          run(fsm, maker, before);
          const chunks = [...fsm.snapshotChunks(maxChunk)];
          for (const c of chunks) expect(c.length).toBeLessThanOrEqual(maxChunk);
          const restored = await LeaseFsm.restore(async ? trickle(chunks) : chunks);
          expect(readAll(restored)).toEqual(readAll(fsm));
          expect(restored.maxClients).toBe(opts.maxClients);
          expect(restored.clientTtlMs).toBe(opts.clientTtlMs);

          // Same commands (same index, same time-dependent setTime) to both.
          const index = fsm.stats().lastIndex;
          let i = index;
          for (const b of after) {
            i += b.gap;
            const cmds = b.steps.map((s) => maker.make(s, fsm.time()));
            expect(restored.apply(i, cmds)).toEqual(fsm.apply(i, cmds));
            expect(readAll(restored)).toEqual(readAll(fsm));
          }
        },
      ),
      { numRuns: 200 },
    );
  });

  it('a stream being consumed while apply continues still shows the state at its start', async () => {
    await fc.assert(
      fc.asyncProperty(optionsArb, batchesArb(30), batchesArb(20), fc.nat({ max: 3 }), async (opts, before, during, pulledFirst) => {
        const fsm = new LeaseFsm(opts);
        const maker = new CommandMaker();
        run(fsm, maker, before);
        const expected = readAll(fsm);
        const twin = await LeaseFsm.restore(fsm.snapshotChunks());

        const iter = fsm.snapshotChunks(256)[Symbol.iterator]();
        const chunks: Uint8Array[] = [];
        for (let n = 0; n < pulledFirst; n++) {
          const r = iter.next();
          if (!r.done) chunks.push(r.value);
        }
        // Mutates records and dedupe entries mid-stream. A twin with no stream open (and default
        // expiry buckets) answers every entry alike: copying on write changes nothing anyone sees.
        const plain = await LeaseFsm.restore(fsm.snapshotChunks());
        for (const b of during) {
          const index = maker.nextIndex(b.gap);
          const cmds = b.steps.map((s) => maker.make(s, fsm.time()));
          expect(fsm.apply(index, cmds)).toEqual(plain.apply(index, cmds));
        }
        for (let r = iter.next(); !r.done; r = iter.next()) chunks.push(r.value);

        const restored = await LeaseFsm.restore(chunks);
        expect(readAll(restored)).toEqual(expected);
        // and the dedupe table came through as it was: both answer a replay identically
        const replay: LeaseCommand[] = [
          { op: 'revoke', key: ALL_KEYS[0], holder: 'h1', clientId: 'c1', seq: 1 },
          { op: 'claim', key: ALL_KEYS[1], holder: 'h2', durationMs: 5, clientId: 'c2', seq: 2 },
          { op: 'setTime', oldTime: expected.time, newTime: expected.time + 1, clientId: 'clock', seq: 3 },
        ];
        const idx = expected.stats.lastIndex + 1;
        expect(restored.apply(idx, replay)).toEqual(twin.apply(idx, replay));
      }),
      { numRuns: 200 },
    );
  });

  it('the same commands give byte-identical snapshots on every node', () => {
    fc.assert(
      fc.property(batchesArb(30), (batches) => {
        const a = new LeaseFsm({ maxClients: 4, clientTtlMs: 50 });
        const b = new LeaseFsm({ maxClients: 4, clientTtlMs: 50 });
        run(a, new CommandMaker(), batches);
        run(b, new CommandMaker(), batches);
        expect(Buffer.concat([...a.snapshotChunks(512)])).toEqual(Buffer.concat([...b.snapshotChunks(512)]));
      }),
      { numRuns: 100 },
    );
  });

  it('streams many leases in bounded chunks, multibyte names included', async () => {
    const fsm = new LeaseFsm();
    const cmds: LeaseCommand[] = [];
    for (let i = 0; i < 20_000; i++) {
      const lease = i % 3 === 0 ? `€€€€€€€€€€€€€€€€€€€€-${i}` : `lease-${i}`;
      cmds.push({ op: 'claim', key: { namespace: 'application-leadership', model: `m${i % 7}`, lease }, holder: `unit/${i}`, durationMs: 60_000, clientId: `c${i}`, seq: 1 });
      if (i % 100 === 0) cmds.push({ op: 'pin', key: { namespace: 'application-leadership', model: `m${i % 7}`, lease }, entity: 'machine-0', clientId: `p${i}`, seq: 1 });
    }
    fsm.apply(1, cmds);
    const max = 16 * 1024;
    const chunks = [...fsm.snapshotChunks(max)];
    expect(chunks.length).toBeGreaterThan(10);
    for (const c of chunks) expect(c.length).toBeLessThanOrEqual(max);
    const restored = await LeaseFsm.restore(chunks);
    expect(restored.list()).toEqual(fsm.list());
    expect(restored.stats()).toEqual(fsm.stats());
  });

  it('keeps chunks bounded when names are mostly 3-byte characters (size estimates run low)', async () => {
    const fsm = new LeaseFsm();
    const cmds: LeaseCommand[] = [];
    for (let i = 0; i < 2_000; i++) {
      cmds.push({ op: 'claim', key: { namespace: '命名空间', model: 'モデル', lease: '€'.repeat(200) + i }, holder: '持有者'.repeat(50), durationMs: 1000, clientId: `c${i}`, seq: 1 });
    }
    fsm.apply(1, cmds);
    const max = 8 * 1024;
    const chunks = [...fsm.snapshotChunks(max)];
    for (const c of chunks) expect(c.length).toBeLessThanOrEqual(max);
    expect((await LeaseFsm.restore(chunks)).list()).toEqual(fsm.list());
  });

  it('options come from the snapshot unless overridden', async () => {
    const fsm = new LeaseFsm({ maxClients: 3, clientTtlMs: 7 });
    expect((await LeaseFsm.restore(fsm.snapshotChunks())).maxClients).toBe(3);
    const over = await LeaseFsm.restore(fsm.snapshotChunks(), { maxClients: 9 });
    expect([over.maxClients, over.clientTtlMs]).toEqual([9, 7]);
    fsm.apply(1, ['a', 'b', 'c'].map((clientId): LeaseCommand => ({ op: 'revoke', key: ALL_KEYS[0], holder: 'h', clientId, seq: 1 })));
    const smaller = await LeaseFsm.restore(fsm.snapshotChunks(), { maxClients: 2 });
    expect(smaller.stats().clients).toBe(2);
    // 'a' (least recent) was forgotten: its seq 1 applies anew instead of replaying
    const again = smaller.apply(2, [{ op: 'claim', key: ALL_KEYS[0], holder: 'h', durationMs: 1, clientId: 'a', seq: 1 }]);
    expect(again.results[0].ok).toBe(true);
  });

  describe('rejects streams it cannot trust', () => {
    const packr = new Packr({ useRecords: false });
    const fsm = new LeaseFsm();
    fsm.apply(1, [{ op: 'claim', key: ALL_KEYS[0], holder: 'h1', durationMs: 10, clientId: 'c', seq: 1 }]);
    const good = [...fsm.snapshotChunks()];

    it('an unknown version, with a clear message', async () => {
      const header = packr.pack({ kind: 'header', v: 2, time: 0, nextToken: 0, lastIndex: 0, leaseCount: 0, clientCount: 0, maxClients: 1, clientTtlMs: 1 });
      await expect(LeaseFsm.restore([header])).rejects.toThrow(/unsupported version 2 \(this build reads version 1\)/);
      await expect(LeaseFsm.restore([header])).rejects.toBeInstanceOf(SnapshotFormatError);
    });

    it('a truncated stream', async () => {
      await expect(LeaseFsm.restore(good.slice(0, -1))).rejects.toThrow(/truncated/);
    });

    it('an empty stream', async () => {
      await expect(LeaseFsm.restore([])).rejects.toThrow(/no header/);
    });

    it('a stream that does not start with a header', async () => {
      await expect(LeaseFsm.restore(good.slice(1))).rejects.toThrow(/not a header/);
    });

    it('garbage and malformed rows', async () => {
      await expect(LeaseFsm.restore([good[0], new Uint8Array([0xc1])])).rejects.toBeInstanceOf(SnapshotFormatError);
      await expect(LeaseFsm.restore([good[0], packr.pack({ kind: 'leases', rows: [[1, 2, 3]] })])).rejects.toThrow(/malformed lease row/);
      await expect(LeaseFsm.restore([good[0], packr.pack({ kind: 'mystery', rows: [] })])).rejects.toThrow(/unknown chunk kind/);
    });
  });
});
