import { performance } from 'node:perf_hooks';
import type { Logger } from 'pino';
import type { RaftLog } from '../machines/raft/log.ts';
import type { SnapshotMeta } from '../machines/raft/types.ts';
import type { RaftStorage } from '../storage/types.ts';
import type { StateMachine } from './raft-node.ts';

export interface SnapshotTakerOptions {
  stateMachine: StateMachine;
  storage: RaftStorage;
  logger: Logger;
  /**
   * Longest run of capture work between two yields to the event loop (ms). The state is fixed when
   * the capture starts (the state machine copies on write), so Raft keeps persisting, sending and
   * applying while the chunks are produced. A chunk is the smallest unit: one may overrun a little.
   */
  sliceMs: number;
  /** The snapshot is durable: the log up to `meta.index` may be compacted. */
  onSaved: (meta: SnapshotMeta) => void;
}

export interface SnapshotStats {
  taken: number;
  failed: number;
  last: { index: number; bytes: number; chunks: number; captureMs: number; saveMs: number; slices: number; longestSliceMs: number } | null;
}

/**
 * Takes snapshots off the Ready loop's path, one at a time: captures the state machine's chunks in
 * time slices (never one long synchronous pass over a big lease table) and streams them into
 * storage as they are produced; storage measures their size and CRC32. At most storage's write
 * window of a snapshot is in memory at once, not the whole encoded lease table.
 */
export class SnapshotTaker {
  private running = false;
  private stopped = false;
  private stats: SnapshotStats = { taken: 0, failed: 0, last: null };

  constructor(private readonly o: SnapshotTakerOptions) {}

  get busy(): boolean {
    return this.running;
  }

  status(): SnapshotStats & { inProgress: boolean } {
    return { ...this.stats, inProgress: this.running };
  }

  /** Snapshots the state at `log.applied` unless one is already being taken. */
  take(log: RaftLog): void {
    if (this.running || this.stopped) return;
    this.running = true;
    this.run(log)
      .catch((err) => {
        this.stats.failed++;
        if (!this.stopped) this.o.logger.error({ err }, 'snapshot failed');
      })
      .finally(() => (this.running = false));
  }

  stop(): void {
    this.stopped = true;
  }

  private async run(log: RaftLog): Promise<void> {
    const index = log.applied;
    const term = log.term(index)!;
    const config = log.configAt(index).config;
    const started = performance.now();
    // The state as of `index`: the iterable is fixed at this call, before anything awaits. Its
    // first chunk is taken here so that the generator has started: only then does return() run its
    // cleanup (the lease FSM ends its copy-on-write window there), even if storage refuses the
    // snapshot without reading any of it.
    const iterator = this.o.stateMachine.snapshot()[Symbol.iterator]();
    const capture = { chunks: 0, slices: 1, longestSliceMs: 0, capturedAt: 0 };
    let meta: SnapshotMeta;
    try {
      const first = iterator.next();
      // Streamed: storage writes each chunk while the next ones are produced, so the snapshot never
      // sits whole in memory (measured at 5× overload: a 20–25 MB spike of buffers per snapshot).
      meta = await this.o.storage.saveSnapshot({ index, term, config }, this.chunks(iterator, first, capture));
    } finally {
      iterator.return?.();
    }
    if (this.stopped) return;
    this.stats.taken++;
    this.stats.last = {
      index,
      bytes: meta.size,
      chunks: capture.chunks,
      captureMs: round(capture.capturedAt - started),
      saveMs: round(performance.now() - capture.capturedAt),
      slices: capture.slices,
      longestSliceMs: round(capture.longestSliceMs),
    };
    this.o.onSaved(meta);
  }

  /** The state machine's chunks, produced in time slices of at most ≈ `sliceMs` of work each. */
  private async *chunks(
    iterator: Iterator<Uint8Array>,
    first: IteratorResult<Uint8Array>,
    stats: { chunks: number; slices: number; longestSliceMs: number; capturedAt: number },
  ): AsyncGenerator<Uint8Array> {
    let sliceStart = performance.now();
    try {
      for (let next = first; !next.done; next = iterator.next()) {
        stats.chunks++;
        yield next.value; // storage checksums and stages it before asking for the next one
        const now = performance.now();
        if (now - sliceStart >= this.o.sliceMs) {
          stats.longestSliceMs = Math.max(stats.longestSliceMs, now - sliceStart);
          await new Promise((r) => setImmediate(r));
          if (this.stopped) throw new Error('snapshot abandoned: node stopping');
          stats.slices++;
          sliceStart = performance.now();
        }
      }
      stats.capturedAt = performance.now();
      stats.longestSliceMs = Math.max(stats.longestSliceMs, stats.capturedAt - sliceStart);
    } finally {
      iterator.return?.(); // ends the state machine's copy-on-write window if the save stopped early
    }
  }
}

function round(ms: number): number {
  return Math.round(ms * 10) / 10;
}
