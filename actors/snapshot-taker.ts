import { performance } from 'node:perf_hooks';
import type { Logger } from 'pino';
import type { RaftLog } from '../machines/raft/log.ts';
import type { SnapshotMeta } from '../machines/raft/types.ts';
import { crc32 } from '../storage/crc32.ts';
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
 * time slices (never one long synchronous pass over a big lease table), then hands them, with their
 * size and CRC32, to storage. A snapshot is all in memory between capture and save: its size is
 * what the state machine holds, encoded.
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
    // The state as of `index`: the iterable is fixed at this call.
    const iterator = this.o.stateMachine.snapshot()[Symbol.iterator]();
    const chunks: Uint8Array[] = [];
    let checksum = 0;
    let size = 0;
    let slices = 1;
    let longestSliceMs = 0;
    const started = performance.now();
    let sliceStart = started;
    try {
      for (;;) {
        const next = iterator.next();
        if (next.done) break;
        chunks.push(next.value);
        checksum = crc32(next.value, checksum);
        size += next.value.byteLength;
        const now = performance.now();
        if (now - sliceStart >= this.o.sliceMs) {
          longestSliceMs = Math.max(longestSliceMs, now - sliceStart);
          await new Promise((r) => setImmediate(r));
          if (this.stopped) return;
          slices++;
          sliceStart = performance.now();
        }
      }
    } finally {
      iterator.return?.(); // ends the state machine's copy-on-write window if we stopped early
    }
    const captured = performance.now();
    longestSliceMs = Math.max(longestSliceMs, captured - sliceStart);
    const meta: SnapshotMeta = { index, term, config, size, checksum };
    await this.o.storage.saveSnapshot(meta, chunks);
    if (this.stopped) return;
    this.stats.taken++;
    this.stats.last = {
      index,
      bytes: size,
      chunks: chunks.length,
      captureMs: round(captured - started),
      saveMs: round(performance.now() - captured),
      slices,
      longestSliceMs: round(longestSliceMs),
    };
    this.o.onSaved(meta);
  }
}

function round(ms: number): number {
  return Math.round(ms * 10) / 10;
}
