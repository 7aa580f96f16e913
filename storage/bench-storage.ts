/**
 * LmdbStorage write benchmark: `npx tsx storage/bench-storage.ts` (about 15 s).
 *
 * Each write() is one 200-byte entry and resolves after fsync. Measured sequentially (each
 * awaited: latency floor = one commit + fsync) and with 64 concurrent writers (lmdb-js folds
 * writes issued in the same event-loop turn into one commit, so they share an fsync), for both
 * overlappingSync settings. The two settings run in alternating short rounds so that disk noise
 * from other processes hits both alike. Commits are counted from LMDB's last transaction id.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { open } from 'lmdb';
import { EntryType, type LogEntry } from '../machines/raft/types.ts';
import { LmdbStorage, type LmdbStorageOptions } from './lmdb.ts';

const PAYLOAD = new Uint8Array(200).fill(7);
const ROUND_MS = 800;
const ROUNDS = 3;
const WARMUP_WRITES = 100;
const WRITERS = 64;

interface Result {
  writes: number;
  seconds: number;
  latenciesMs: number[];
  commits: number;
}

function entry(index: number): LogEntry {
  return { index, term: 1, type: EntryType.Command, data: PAYLOAD };
}

/** LMDB's transaction counter for the environment in `dir` (opened after the storage closed). */
async function lastTxnId(dir: string): Promise<number> {
  const root = open({ path: dir, maxDbs: 4 });
  try {
    return (root.getStats() as { lastTxnId: number }).lastTxnId;
  } finally {
    await root.close();
  }
}

/** Runs `writers` loops of awaited single-entry writes for ROUND_MS on a fresh store. */
async function run(options: LmdbStorageOptions, writers: number): Promise<Result> {
  const dir = await mkdtemp(join(tmpdir(), 'tenure-bench-storage-'));
  try {
    const storage = await LmdbStorage.open(dir, options);
    let next = 1;
    for (let i = 0; i < WARMUP_WRITES; i++) await storage.write({ entries: [entry(next++)] });
    await storage.close();
    const txnsBefore = await lastTxnId(dir);

    const measured = await LmdbStorage.open(dir, options);
    const latenciesMs: number[] = [];
    const start = performance.now();
    const deadline = start + ROUND_MS;
    // Indexes are taken at call time, so concurrent writers still append contiguously.
    const loop = async (): Promise<void> => {
      while (performance.now() < deadline) {
        const t0 = performance.now();
        await measured.write({ entries: [entry(next++)] });
        latenciesMs.push(performance.now() - t0);
      }
    };
    await Promise.all(Array.from({ length: writers }, loop));
    const seconds = (performance.now() - start) / 1000;
    await measured.close();
    const commits = (await lastTxnId(dir)) - txnsBefore;
    return { writes: latenciesMs.length, seconds, latenciesMs, commits };
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

function percentile(sorted: number[], p: number): number {
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))];
}

function report(label: string, r: Result): void {
  const sorted = [...r.latenciesMs].sort((a, b) => a - b);
  const perSec = Math.round(r.writes / r.seconds);
  console.log(
    `${label.padEnd(40)} ${String(perSec).padStart(6)} writes/s   p50 ${percentile(sorted, 50).toFixed(3)} ms   ` +
      `p90 ${percentile(sorted, 90).toFixed(3)} ms   p99 ${percentile(sorted, 99).toFixed(3)} ms   ` +
      `${(r.writes / Math.max(1, r.commits)).toFixed(1)} writes/commit`,
  );
}

function merge(results: Result[]): Result {
  return {
    writes: results.reduce((n, r) => n + r.writes, 0),
    seconds: results.reduce((n, r) => n + r.seconds, 0),
    latenciesMs: results.flatMap((r) => r.latenciesMs),
    commits: results.reduce((n, r) => n + r.commits, 0),
  };
}

console.log(
  `LmdbStorage.write(): 1 entry x ${PAYLOAD.length} B, fsync per commit, ${ROUNDS} x ${ROUND_MS} ms per line, dir ${tmpdir()}`,
);
for (const writers of [1, WRITERS]) {
  const byMode = new Map<boolean, Result[]>([
    [true, []],
    [false, []],
  ]);
  for (let round = 0; round < ROUNDS; round++) {
    for (const [overlappingSync, results] of byMode) results.push(await run({ overlappingSync }, writers));
  }
  for (const [overlappingSync, results] of byMode) {
    report(`overlappingSync=${overlappingSync}, ${writers === 1 ? 'sequential' : `${writers} concurrent writers`}`, merge(results));
  }
}
