import type { NodeId } from './types.ts';

export interface ReadState {
  ctx: number;
  index: number;
}

/**
 * The leader's ReadIndex bookkeeping: each read records the commit index at request time and is
 * released once a quorum acknowledged a heartbeat round sent at or after it. Reads that arrive
 * before the leader committed an entry of its own term wait for that first.
 */
export class ReadIndexTracker {
  /** Heartbeat round the latest read asked for (0: none yet). */
  seq = 0;
  /** The round `seq` is not broadcast yet: reads arriving now join it instead of starting another. */
  private unsent = false;
  private reads: { seq: number; ctx: number; index: number; acks: Set<NodeId> }[] = [];
  private deferred: number[] = [];

  /** Starts a read at `commitIndex`; many reads between two broadcasts share one heartbeat round. */
  start(ctx: number, commitIndex: number, self: NodeId): void {
    if (!this.unsent) {
      this.seq++;
      this.unsent = true;
    }
    this.reads.push({ seq: this.seq, ctx, index: commitIndex, acks: new Set([self]) });
  }

  /** The round to broadcast now, if reads are waiting for one (then it counts as sent). */
  takeUnsentRound(): number | null {
    if (!this.unsent) return null;
    this.unsent = false;
    return this.seq;
  }

  hasUnsentRound(): boolean {
    return this.unsent;
  }

  defer(ctx: number): void {
    this.deferred.push(ctx);
  }

  /** Reads that waited for the term's first commit (the caller starts them now). */
  takeDeferred(): number[] {
    const d = this.deferred;
    this.deferred = [];
    return d;
  }

  /** `from` acknowledged heartbeat round `round`; returns the reads now confirmed, in order. */
  acknowledge(from: NodeId, round: number, quorum: number): ReadState[] {
    if (round <= 0 || this.reads.length === 0) return [];
    for (const r of this.reads) if (r.seq <= round) r.acks.add(from);
    const done: ReadState[] = [];
    while (this.reads.length && this.reads[0].acks.size >= quorum) {
      const r = this.reads.shift()!;
      done.push({ ctx: r.ctx, index: r.index });
    }
    return done;
  }

  /** Leadership lost: every pending read fails (returns their ctx). */
  failAll(): number[] {
    const failed = [...this.reads.map((r) => r.ctx), ...this.deferred];
    this.reads = [];
    this.deferred = [];
    this.unsent = false;
    return failed;
  }
}
