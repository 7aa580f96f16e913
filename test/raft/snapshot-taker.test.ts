import { describe, expect, it } from 'vitest';
import { LeaseStateMachine, encodeLeaseCommand } from '../../actors/lease-state-machine.ts';
import type { StateMachine } from '../../actors/raft-node.ts';
import { SnapshotTaker } from '../../actors/snapshot-taker.ts';
import { EventLoopMonitor } from '../../actors/event-loop-monitor.ts';
import type { RaftLog } from '../../machines/raft/log.ts';
import { crc32 } from '../../storage/crc32.ts';
import { MemoryStorage } from '../../storage/memory.ts';
import { silentLogger } from '../../log/logger.ts';

/** Just what the taker reads of the Raft log: the applied index, its term and membership. */
function logAt(applied: number): RaftLog {
  return { applied, term: () => 1, configAt: () => ({ config: { voters: ['n1'] } }) } as unknown as RaftLog;
}

function claims(from: number, n: number): Uint8Array[] {
  const out: Uint8Array[] = [];
  for (let i = from; i < from + n; i++) {
    out.push(encodeLeaseCommand({ op: 'claim', key: { namespace: 'ns', model: `m${i % 50}`, lease: `lease-${i}` }, holder: `unit-${i}`, durationMs: 60_000, clientId: `c${i}`, seq: 1 }));
  }
  return out;
}

async function collect(chunks: AsyncIterable<Uint8Array>): Promise<Uint8Array[]> {
  const out: Uint8Array[] = [];
  for await (const c of chunks) out.push(c);
  return out;
}

const until = async (cond: () => boolean) => {
  while (!cond()) await new Promise((r) => setTimeout(r, 2));
};

describe('SnapshotTaker', () => {
  it('captures the state as of the applied index while apply goes on, and stores it with its size and CRC', async () => {
    const sm = new LeaseStateMachine();
    let index = 0;
    for (let b = 0; b < 40; b++) sm.apply(++index, claims(b * 1000, 1000)); // 40,000 leases: many chunks
    const storage = new MemoryStorage();
    const saved: number[] = [];
    const taker = new SnapshotTaker({ stateMachine: sm, storage, logger: silentLogger, sliceMs: 1, onSaved: (m) => saved.push(m.index) });
    const at = index;
    taker.take(logAt(at));
    expect(taker.busy).toBe(true);
    // Apply continues between slices: more leases and a revoke of a captured one.
    let appliedDuring = 0;
    while (taker.busy) {
      sm.apply(++index, [...claims(100_000 + appliedDuring * 10, 10), encodeLeaseCommand({ op: 'revoke', key: { namespace: 'ns', model: 'm0', lease: 'lease-0' }, holder: 'unit-0', clientId: 'r', seq: index })]);
      appliedDuring++;
      await new Promise((r) => setImmediate(r));
    }
    expect(appliedDuring).toBeGreaterThan(1); // the capture did not run in one go
    expect(saved).toEqual([at]);
    const st = taker.status();
    expect(st).toMatchObject({ taken: 1, failed: 0, inProgress: false });
    expect(st.last!.index).toBe(at);
    expect(st.last!.slices).toBeGreaterThan(1);

    const stored = (await storage.readSnapshot())!;
    const chunks = await collect(stored.chunks);
    expect(stored.meta.size).toBe(chunks.reduce((a, c) => a + c.byteLength, 0));
    expect(stored.meta.checksum).toBe(chunks.reduce((crc, c) => crc32(c, crc), 0));
    const restored = new LeaseStateMachine();
    await restored.restore((async function* () {
      yield* chunks;
    })());
    const stats = restored.fsm.stats();
    expect(stats.lastIndex).toBe(at);
    expect(stats.records).toBe(40_000);
    expect(restored.fsm.list().some((l) => l.key.lease === 'lease-0' && l.holder === 'unit-0')).toBe(true);
    // The live state moved on without being disturbed by the capture.
    expect(sm.fsm.stats().records).toBe(40_000 - 1 + appliedDuring * 10); // lease-0 revoked
    expect(sm.fsm.list().some((l) => l.key.lease === 'lease-0' && l.holder !== null)).toBe(false);
  });

  it('stopped mid-capture, it saves nothing and the state machine stops copying on write', async () => {
    const sm = new LeaseStateMachine();
    for (let b = 0; b < 20; b++) sm.apply(b + 1, claims(b * 1000, 1000));
    const storage = new MemoryStorage();
    const taker = new SnapshotTaker({ stateMachine: sm, storage, logger: silentLogger, sliceMs: 0, onSaved: () => expect.fail('saved after stop') });
    taker.take(logAt(20));
    await new Promise((r) => setImmediate(r));
    taker.stop();
    await until(() => !taker.busy);
    expect(await storage.readSnapshot()).toBeNull();
    expect((sm.fsm as unknown as { cow: { open: number } }).cow.open).toBe(0);
  });

  it('a snapshot storage refuses unread still ends the copy-on-write window', async () => {
    const sm = new LeaseStateMachine();
    for (let b = 0; b < 5; b++) sm.apply(b + 1, claims(b * 100, 100));
    const storage = new MemoryStorage();
    const taker = new SnapshotTaker({ stateMachine: sm, storage, logger: silentLogger, sliceMs: 4, onSaved: () => {} });
    taker.take(logAt(5));
    await until(() => !taker.busy);
    taker.take(logAt(3)); // older than the stored one: refused before any chunk is read
    await until(() => !taker.busy);
    expect(taker.status()).toMatchObject({ taken: 1, failed: 1 });
    expect((sm.fsm as unknown as { cow: { open: number } }).cow.open).toBe(0);
  });

  it('streams: storage takes each chunk before the next is produced, never the whole snapshot at once', async () => {
    let produced = 0;
    const sm: StateMachine = {
      apply: () => [],
      snapshot: function* () {
        for (let i = 0; i < 5; i++) {
          produced++;
          yield Uint8Array.of(i, i, i);
        }
      },
      restore: async () => {},
    };
    const inner = new MemoryStorage();
    const seenAt: number[] = [];
    const storage = Object.assign(Object.create(inner) as MemoryStorage, {
      saveSnapshot: (meta: Parameters<MemoryStorage['saveSnapshot']>[0], chunks: AsyncIterable<Uint8Array>) =>
        inner.saveSnapshot(meta, (async function* () {
          for await (const c of chunks) {
            seenAt.push(produced);
            yield c;
          }
        })()),
    });
    const saved: { size: number; checksum: number }[] = [];
    const taker = new SnapshotTaker({ stateMachine: sm, storage, logger: silentLogger, sliceMs: 50, onSaved: (m) => saved.push(m) });
    taker.take(logAt(4));
    await until(() => !taker.busy);
    expect(seenAt).toEqual([1, 2, 3, 4, 5]);
    const data = Uint8Array.from([0, 0, 0, 1, 1, 1, 2, 2, 2, 3, 3, 3, 4, 4, 4]);
    expect(saved).toEqual([expect.objectContaining({ index: 4, size: 15, checksum: crc32(data) })]);
    expect(taker.status().last).toMatchObject({ index: 4, bytes: 15, chunks: 5 });
  });

  it('one at a time; a failed save is counted and the next one can run', async () => {
    const sm: StateMachine = { apply: () => [], snapshot: () => [Uint8Array.of(1, 2, 3)], restore: async () => {} };
    const storage = new MemoryStorage();
    const saved: number[] = [];
    const taker = new SnapshotTaker({ stateMachine: sm, storage, logger: silentLogger, sliceMs: 4, onSaved: (m) => saved.push(m.index) });
    taker.take(logAt(5));
    taker.take(logAt(6)); // ignored: one is running
    await until(() => !taker.busy);
    taker.take(logAt(3)); // older than the stored snapshot: storage refuses it
    await until(() => !taker.busy);
    taker.take(logAt(9));
    await until(() => !taker.busy);
    expect(saved).toEqual([5, 9]);
    expect(taker.status()).toMatchObject({ taken: 2, failed: 1, last: { index: 9, bytes: 3, chunks: 1 } });
  });
});

describe('EventLoopMonitor', () => {
  it('reports a blocked event loop in the window that saw it', async () => {
    const mon = new EventLoopMonitor(100);
    try {
      await new Promise((r) => setTimeout(r, 120));
      let keep: number[][] = [];
      for (let i = 0; i < 20_000; i++) keep.push(new Array(64).fill(i)); // young-generation collections
      keep = [];
      const spin = performance.now();
      while (performance.now() - spin < 150); // a 150 ms synchronous stall
      await new Promise((r) => setTimeout(r, 250));
      const st = mon.status();
      expect(st.windowMs).toBe(100);
      expect(st.peakMs).toBeGreaterThanOrEqual(100);
      expect(st).toEqual(expect.objectContaining({ gcMaxMs: expect.any(Number), gcMs: expect.any(Number), gcMajorMs: expect.any(Number) }));
    } finally {
      mon.stop();
    }
  });
});
