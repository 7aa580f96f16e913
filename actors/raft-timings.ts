/**
 * Where a Raft round's time goes, measured on the node itself: the anatomy behind a client's
 * latency (docs/benchmarks.md, "Tenth session"). Reported in `raft.<id>.status` (`timings`) and
 * recorded per second by `tenure bench`.
 *
 * Leader, per entry, from the moment it was appended:
 *   ownWrite    until its own disk write (and every earlier one) was durable;
 *   firstAck    until the first follower reported it durable;
 *   applied     until it was applied here (committed by a quorum, then run through the FSM);
 * every node:
 *   write       one disk write, from issue to durable (LMDB commit + fsync, as the event loop sees it);
 *   appendReply (follower) an append, from its arrival to the reply leaving (after the write).
 *
 * Each stage is a fixed-size histogram (buckets ≈ 19 % apart, so a percentile is at most that
 * much above the truth) over one-second windows: a status shows the last complete second and
 * the whole life. Entries awaiting their stages are bounded by the leader's in-flight entries;
 * leadership changes drop them.
 */

const BUCKETS = 72;
const BASE_MS = 0.02;
const STEP = 2 ** 0.25;
const BOUNDS = Array.from({ length: BUCKETS }, (_, i) => BASE_MS * STEP ** i); // 0.02 ms … ≈ 5.5 s

export const STAGES = ['ownWrite', 'firstAck', 'applied', 'write', 'appendReply'] as const;
export type Stage = (typeof STAGES)[number];

export interface StageSummary {
  count: number;
  p50Ms: number;
  p99Ms: number;
  maxMs: number;
}

class Histogram {
  readonly counts = new Array<number>(BUCKETS + 1).fill(0);
  count = 0;
  max = 0;

  record(ms: number): void {
    const v = ms > 0 ? ms : 0;
    // log-bucket index in O(1); clamp to the overflow bucket
    let i = v <= BASE_MS ? 0 : Math.ceil(Math.log2(v / BASE_MS) * 4);
    if (i > BUCKETS) i = BUCKETS;
    else if (i < BUCKETS && BOUNDS[i] < v) i++; // float rounding at a boundary
    this.counts[i]++;
    this.count++;
    if (v > this.max) this.max = v;
  }

  summary(): StageSummary {
    return { count: this.count, p50Ms: this.quantile(0.5), p99Ms: this.quantile(0.99), maxMs: round(this.max) };
  }

  private quantile(q: number): number {
    if (this.count === 0) return 0;
    const rank = Math.ceil(q * this.count);
    let seen = 0;
    for (let i = 0; i <= BUCKETS; i++) {
      seen += this.counts[i];
      if (seen >= rank) return round(Math.min(i < BUCKETS ? BOUNDS[i] : Infinity, this.max));
    }
    return round(this.max);
  }
}

const round = (ms: number) => Math.round(ms * 1000) / 1000;

const fresh = () => Object.fromEntries(STAGES.map((s) => [s, new Histogram()])) as Record<Stage, Histogram>;

export class RaftTimings {
  private current = fresh();
  private last = fresh();
  private readonly total = fresh();
  private windowStart: number;
  /** Leader: entries appended and not yet applied, by index: when, and which stages were seen. */
  private readonly entries = new Map<number, { at: number; own: boolean; ack: boolean }>();
  /** Lowest index in `entries` not yet reported durable here / acknowledged by a follower. */
  private ownFrom = Infinity;
  private ackFrom = Infinity;

  constructor(
    private readonly now: () => number = () => performance.now(),
    private readonly windowMs = 1000,
  ) {
    this.windowStart = this.now();
  }

  record(stage: Stage, ms: number): void {
    this.rotate(this.now());
    this.current[stage].record(ms);
    this.total[stage].record(ms);
  }

  /** Leader: entries `first..first+count-1` were appended now. */
  appended(first: number, count: number): void {
    const at = this.now();
    for (let i = 0; i < count; i++) this.entries.set(first + i, { at, own: false, ack: false });
    if (first < this.ownFrom) this.ownFrom = first;
    if (first < this.ackFrom) this.ackFrom = first;
  }

  /** Leader: its own log is durable through `index`. */
  ownDurable(index: number): void {
    this.ownFrom = this.mark(this.ownFrom, index, 'ownWrite');
  }

  /** Leader: a follower reported its log durable through `index`. */
  acked(index: number): void {
    this.ackFrom = this.mark(this.ackFrom, index, 'firstAck');
  }

  /** Leader: entry `index` was applied. */
  applied(index: number): void {
    const e = this.entries.get(index);
    if (!e) return;
    this.entries.delete(index);
    this.record('applied', this.now() - e.at);
  }

  /** Leadership lost: nothing pending will complete as measured. */
  reset(): void {
    this.entries.clear();
    this.ownFrom = this.ackFrom = Infinity;
  }

  summary(): { lastSecond: Record<Stage, StageSummary>; total: Record<Stage, StageSummary> } {
    this.rotate(this.now());
    const out = (h: Record<Stage, Histogram>) => Object.fromEntries(STAGES.map((s) => [s, h[s].summary()])) as Record<Stage, StageSummary>;
    return { lastSecond: out(this.last), total: out(this.total) };
  }

  private mark(from: number, through: number, stage: 'ownWrite' | 'firstAck'): number {
    if (from > through) return from;
    const t = this.now();
    let i = from;
    for (; i <= through; i++) {
      const e = this.entries.get(i);
      if (!e) continue; // applied already (or not ours)
      if (stage === 'ownWrite' ? e.own : e.ack) continue;
      if (stage === 'ownWrite') e.own = true;
      else e.ack = true;
      this.record(stage, t - e.at);
    }
    return i;
  }

  private rotate(now: number): void {
    if (now - this.windowStart < this.windowMs) return;
    // More than one window passed without records: the last complete second was empty.
    const empty = now - this.windowStart >= 2 * this.windowMs;
    this.last = empty ? fresh() : this.current;
    this.current = fresh();
    this.windowStart = now - ((now - this.windowStart) % this.windowMs);
  }
}
