/**
 * When a Raft node takes its next snapshot.
 *
 * The bounds (entries applied since the last snapshot, bytes of log held in memory) are the same on
 * every node and every node's log is the same, so without more the three nodes all snapshot in the
 * same second — and the log grows fastest exactly when the cluster is busiest (a herd of claims), so
 * that second falls inside the herd. Measured on the leaseclaimer's seed timing: every snapshot of
 * every node in the busiest seconds, the leader's own log write at 655 ms p50 in one of them and no
 * extension succeeding in it. Two rules take them apart:
 *
 * - **Jitter**: each node scales the bounds by its own factor in [1, 1 + jitter), drawn again after
 *   every snapshot from the node's seeded generator, so nodes reach them at different moments and
 *   while one writes its snapshot the other two still form a quorum.
 * - **Deferral while busy**: once its bound is reached, a node whose `busy()` says it is loaded (the
 *   production node: its event loop lags) waits for a quiet moment, up to `hardFactor` × the
 *   configured bounds — then it snapshots whatever the load, so the log's memory stays bounded
 *   (at most 1.5× what it was before these rules).
 *
 * The snapshots are apart since; that the seed timing loses fewer extensions for it was not shown
 * beyond its run-to-run spread (docs/benchmarks.md, "Thirtieth session").
 */
import { Rng } from '../clock/clock.ts';

export interface SnapshotPolicyOptions {
  everyEntries: number;
  everyBytes: number;
  /** Seed of this node's jitter (the node's seed: simulations stay reproducible). */
  seed: number;
  /** Spread of the bounds, as a fraction (default 0.5: each node's bounds in [1, 1.5) × the configured). */
  jitter?: number;
  /**
   * How far a busy node may defer, as a factor of the configured bounds (default 1.5). With the
   * default jitter every node's own bound is below it, so a busy node always has room to wait.
   */
  hardFactor?: number;
  /** True while the node is loaded; absent = never defer. */
  busy?: () => boolean;
}

export type SnapshotDecision = 'not-yet' | 'defer' | 'take';

export class SnapshotPolicy {
  private readonly rng: Rng;
  private readonly jitter: number;
  private readonly hardFactor: number;
  private factor = 1;
  private deferring = false;
  /** Times a due snapshot waited for the node to be less busy (one per wait, not per check). */
  deferrals = 0;

  constructor(private readonly o: SnapshotPolicyOptions) {
    // A generator of its own: drawing from the election timer's would shift every later timeout.
    this.rng = new Rng((o.seed ^ 0x5eed5a9) >>> 0);
    this.jitter = o.jitter ?? 0.5;
    this.hardFactor = o.hardFactor ?? 1.5;
    if (!(this.jitter >= 0 && this.hardFactor >= 1)) throw new RangeError('snapshot policy: need jitter ≥ 0 and hardFactor ≥ 1');
    this.redraw();
  }

  /** This node's current scale of the bounds. */
  get scale(): number {
    return this.factor;
  }

  /**
   * `entries` applied since the last snapshot, `logBytes` of log in memory, `lastSnapshotBytes` the
   * size of the last snapshot (the byte bound is at least that, so a big table is not re-written for
   * a little log).
   */
  decide(entries: number, logBytes: number, lastSnapshotBytes: number): SnapshotDecision {
    const bytes = Math.max(this.o.everyBytes, lastSnapshotBytes);
    if (entries < this.o.everyEntries * this.factor && logBytes < bytes * this.factor) return 'not-yet';
    // The hard bound is of the configured bounds, not this node's scaled ones: what memory may hold.
    const hard = entries >= this.o.everyEntries * this.hardFactor || logBytes >= bytes * this.hardFactor;
    if (!hard && this.o.busy?.()) {
      if (!this.deferring) this.deferrals++;
      this.deferring = true;
      return 'defer';
    }
    return 'take';
  }

  /** A snapshot was started: the next one gets a fresh factor. */
  taken(): void {
    this.deferring = false;
    this.redraw();
  }

  private redraw(): void {
    this.factor = 1 + this.jitter * this.rng.next();
  }
}
