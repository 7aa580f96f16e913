/**
 * The leader's admission queue as pure logic: lanes of plain arrays, time passed in, no I/O.
 *
 * - Admission (`offer`): a command is refused — never silently dropped — when its lane is full,
 *   when the queue's byte bound is reached, or when the load (queued client commands) has reached
 *   its lane's watermark. Watermarks rise with priority (claim < revoke < extend), so under
 *   pressure claims are refused first and extensions last; the clock lane is never shed and never
 *   counts against client bounds. A command is also refused when the queue ahead of it (its lane
 *   and the lanes above) would take longer to drain, at its measured service rate, than its caller
 *   still waits ('too-slow'): admitting it would only let it expire in the queue, and a queue of
 *   commands that all expire commits nothing useful (goodput falls to zero while throughput
 *   stays up — the metastable collapse seen at 5× overload). Refusals carry `retryAfterMs`.
 * - Dequeue (`takeBatch`): highest lane first, FIFO within a lane, bounded by count and bytes.
 *   Every command whose deadline has passed or whose caller cancelled is dropped on the way
 *   (reported through `onDrop`) — it is never proposed, so a caller that gave up can be sure its
 *   command did not happen (the Juju "did my claim happen?" failure).
 */
import { admissionConfig, LANES, type AdmissionConfig, type AdmissionOverrides, type Lane } from './lanes.ts';
import { Fifo } from './fifo.ts';
import { BusyRateMeter, LatencyHistogram, type LatencySummary } from './meters.ts';

export interface QueuedCommand<T> {
  lane: Lane;
  /** Encoded size in bytes (what the Raft entry will carry). */
  size: number;
  /** Absolute time (queue's clock) after which the caller no longer waits: never propose after it. */
  deadline: number;
  enqueuedAt: number;
  /** Set by the owner when the caller gives up (abort signal); the command is then never proposed. */
  cancelled: boolean;
  payload: T;
}

export type RefusalReason = 'lane-full' | 'shedding' | 'bytes-full' | 'too-slow';
export type DropReason = 'expired' | 'cancelled';

export type Admission =
  | { admitted: true }
  | { admitted: false; lane: Lane; reason: RefusalReason; retryAfterMs: number };

export interface AdmissionMetrics {
  depth: Record<Lane, number>;
  /** Queued client commands (every lane but clock): what the watermarks compare against. */
  load: number;
  peakLoad: number;
  queuedBytes: number;
  admitted: Record<Lane, number>;
  /** Refusals (Overloaded) per lane. */
  shed: Record<Lane, number>;
  /** Refusals (Overloaded) by why: which rule refused them. */
  shedByReason: Record<RefusalReason, number>;
  expired: number;
  cancelled: number;
  /** Lanes currently refusing because of load. */
  shedding: Lane[];
  batches: number;
  batchedCommands: number;
  maxBatch: number;
  lastBatch: number;
  /** Commands leaving the queue (proposed or dropped) per second over the rate window. */
  drainPerSec: number;
  /**
   * The same per second of the window's busy time (while commands waited): what the `too-slow`
   * rule and retry hints go by; null when the queue was never busy for a whole ms of the window.
   */
  serviceRatePerSec: number | null;
  /** Enqueue to commit, for commands whose proposal resolved. */
  commitLatency: LatencySummary;
}

const ADMITTED: Admission = Object.freeze({ admitted: true as const });

function perLane(value = 0): Record<Lane, number> {
  return { clock: value, singular: value, extend: value, revoke: value, claim: value };
}

export interface AdmissionQueueOptions<T> {
  config?: AdmissionOverrides;
  /** Told about every command dropped before it was proposed. Must not call back into the queue. */
  onDrop: (item: QueuedCommand<T>, why: DropReason) => void;
}

export class AdmissionQueue<T> {
  readonly config: AdmissionConfig;
  private readonly lanes: Record<Lane, Fifo<QueuedCommand<T>>>;
  private readonly onDrop: (item: QueuedCommand<T>, why: DropReason) => void;
  private load = 0;
  private bytes = 0;
  private clockDepth = 0;
  private readonly sheddingNow: Record<Lane, boolean> = { clock: false, singular: false, extend: false, revoke: false, claim: false };
  private sheddingChanges = 0;
  private lastPurgeAt = -Infinity;
  /** Departures, over wall time (`drainPerSec`) and over busy time (what `too-slow` and retry hints use). */
  private readonly drained: BusyRateMeter;
  private readonly latency = new LatencyHistogram();
  private readonly counters = {
    peakLoad: 0,
    admitted: perLane(),
    shed: perLane(),
    shedByReason: { 'lane-full': 0, shedding: 0, 'bytes-full': 0, 'too-slow': 0 } as Record<RefusalReason, number>,
    expired: 0,
    cancelled: 0,
    batches: 0,
    batchedCommands: 0,
    maxBatch: 0,
    lastBatch: 0,
  };

  constructor(opts: AdmissionQueueOptions<T>) {
    this.config = admissionConfig(opts.config);
    this.onDrop = opts.onDrop;
    this.drained = new BusyRateMeter(this.config.rateWindowMs);
    this.lanes = { clock: new Fifo(), singular: new Fifo(), extend: new Fifo(), revoke: new Fifo(), claim: new Fifo() };
  }

  /** Commands queued in every lane. */
  get size(): number {
    return this.load + this.clockDepth;
  }

  depth(lane: Lane): number {
    return this.lanes[lane].length;
  }

  /** Changes of the shedding set so far: when unchanged, `shedding()` is what it was. */
  get sheddingVersion(): number {
    return this.sheddingChanges;
  }

  /** Lanes currently refusing because load reached their watermark. */
  shedding(): Lane[] {
    return LANES.filter((l) => this.sheddingNow[l]);
  }

  /** Admits `item` or says why not and when to retry. Never drops an admitted command silently. */
  offer(item: QueuedCommand<T>, now: number): Admission {
    let refusal = this.refusal(item, now);
    // Expired or cancelled commands may be holding the room: purge (at most once per time step,
    // so a flood of refusals does not rescan the queue every time) and look again.
    if (refusal && now > this.lastPurgeAt) {
      this.purge(now);
      refusal = this.refusal(item, now);
    }
    if (refusal) {
      this.counters.shed[item.lane]++;
      this.counters.shedByReason[refusal]++;
      return { admitted: false, lane: item.lane, reason: refusal, retryAfterMs: this.retryAfter(item, refusal, now) };
    }
    this.lanes[item.lane].push(item);
    this.drained.busy(now);
    this.counters.admitted[item.lane]++;
    if (item.lane === 'clock') this.clockDepth++;
    else {
      this.load++;
      this.bytes += item.size;
      if (this.load > this.counters.peakLoad) this.counters.peakLoad = this.load;
      this.updateShedding();
    }
    return ADMITTED;
  }

  /**
   * The next batch to propose: highest lane first, bounded by `maxBatchCommands` and
   * `maxBatchBytes` (always at least one command). Expired and cancelled commands met on the way
   * are dropped through `onDrop` and never returned.
   */
  takeBatch(now: number): QueuedCommand<T>[] {
    const { maxBatchCommands, maxBatchBytes } = this.config;
    const batch: QueuedCommand<T>[] = [];
    let batchBytes = 0;
    let removed = 0;
    fill: for (const lane of LANES) {
      const q = this.lanes[lane];
      for (let item = q.peek(); item !== undefined; item = q.peek()) {
        const why = dropReason(item, now);
        if (why === undefined && (batch.length >= maxBatchCommands || (batch.length > 0 && batchBytes + item.size > maxBatchBytes))) break fill;
        q.shift();
        this.account(item);
        removed++;
        if (why) this.drop(item, why);
        else {
          batch.push(item);
          batchBytes += item.size;
        }
      }
    }
    if (removed) this.left(now, removed);
    if (batch.length) {
      const c = this.counters;
      c.batches++;
      c.batchedCommands += batch.length;
      c.lastBatch = batch.length;
      if (batch.length > c.maxBatch) c.maxBatch = batch.length;
    }
    return batch;
  }

  /**
   * Drops every expired or cancelled command now (the owner's sweep; also run before refusing).
   * Returns how many left and the earliest deadline still queued (Infinity if none), so the owner
   * can time its next sweep to answer DeadlineExceeded the moment it is due.
   */
  purge(now: number): { removed: number; nextDeadline: number } {
    this.lastPurgeAt = now;
    let removed = 0;
    let nextDeadline = Infinity;
    const drop = (item: QueuedCommand<T>): boolean => {
      if (dropReason(item, now) !== undefined) return true;
      if (item.deadline < nextDeadline) nextDeadline = item.deadline;
      return false;
    };
    for (const lane of LANES) {
      const gone = this.lanes[lane].removeWhere(drop);
      for (const item of gone) {
        this.account(item);
        this.drop(item, dropReason(item, now)!);
      }
      removed += gone.length;
    }
    if (removed) this.left(now, removed);
    return { removed, nextDeadline };
  }

  /** Empties the queue (leadership lost, shutdown): the owner answers every command. */
  drainAll(now: number): QueuedCommand<T>[] {
    const out: QueuedCommand<T>[] = [];
    for (const lane of LANES) out.push(...this.lanes[lane].drain());
    this.load = 0;
    this.bytes = 0;
    this.clockDepth = 0;
    this.drained.idle(now);
    this.updateShedding();
    return out;
  }

  /** The command's proposal resolved at `now`: feeds the enqueue-to-commit latency. */
  recordCommitted(item: QueuedCommand<T>, now: number): void {
    this.latency.record(now - item.enqueuedAt);
  }

  metrics(now: number): AdmissionMetrics {
    const depth = perLane();
    for (const lane of LANES) depth[lane] = this.lanes[lane].length;
    const c = this.counters;
    return {
      depth,
      load: this.load,
      peakLoad: c.peakLoad,
      queuedBytes: this.bytes,
      admitted: { ...c.admitted },
      shed: { ...c.shed },
      shedByReason: { ...c.shedByReason },
      expired: c.expired,
      cancelled: c.cancelled,
      shedding: this.shedding(),
      batches: c.batches,
      batchedCommands: c.batchedCommands,
      maxBatch: c.maxBatch,
      lastBatch: c.lastBatch,
      drainPerSec: this.drained.perMs(now) * 1000,
      serviceRatePerSec: ((r) => (r === null ? null : r * 1000))(this.drained.perBusyMs(now)),
      commitLatency: this.latency.summary(),
    };
  }

  // ---- internals ----

  /** `n` commands left the queue at `now` (proposed or dropped). */
  private left(now: number, n: number): void {
    this.drained.record(now, n);
    if (this.load + this.clockDepth === 0) this.drained.idle(now);
    this.updateShedding();
  }

  private refusal(item: QueuedCommand<T>, now: number): RefusalReason | undefined {
    const lane = item.lane;
    if (this.lanes[lane].length >= this.config.lanes[lane].capacity) return 'lane-full';
    if (lane === 'clock') return undefined; // never shed, not counted against client bounds
    if (this.sheddingNow[lane]) return 'shedding';
    if (this.bytes + item.size > this.config.maxQueuedBytes) return 'bytes-full';
    if (this.waitAhead(lane, now) >= item.deadline - now) return 'too-slow';
    return undefined;
  }

  /**
   * Expected wait (ms) of a command joining `lane` now: the commands ahead of it (its lane and the
   * lanes above) over the service rate — departures per ms of the window's *busy* time, not of
   * wall time: after an idle spell the wall-time rate counts the idle part and would call a burst
   * into a queue that drains thousands per second seconds deep (seen in the leaseclaimer bench: a
   * herd of 2,000 extensions falling due at once during a half-second stall was refused 3,357
   * times — by this rule, the only one that could refuse them — and 165 failed). A queue shorter than one batch leaves with the next proposal, so it
   * counts as no wait; with no departure measured (a burst into an idle queue, or Raft stalled for
   * a whole window) this rule refuses nothing and the lanes' bounds apply.
   */
  private waitAhead(lane: Lane, now: number): number {
    let ahead = 0;
    for (const l of LANES) {
      ahead += this.lanes[l].length;
      if (l === lane) break;
    }
    if (ahead < this.config.maxBatchCommands) return 0;
    const rate = this.drained.perBusyMs(now);
    return rate !== null && rate > 0 ? ahead / rate : 0;
  }

  /**
   * When to retry: how many commands must leave the queue before this command would be admitted,
   * divided by the rate at which commands currently leave it (proposed or dropped, over
   * `rateWindowMs`): the service rate, or the wall-time rate while no busy time is measured.
   * Nothing leaving (Raft stalled) gives the maximum. The hint is a lower bound
   * under sustained load; clients add jitter so retries do not arrive in lockstep.
   */
  private retryAfter(item: QueuedCommand<T>, reason: RefusalReason, now: number): number {
    const { lanes, resumeFraction, minRetryAfterMs, maxRetryAfterMs, maxQueuedBytes } = this.config;
    let needed: number;
    if (reason === 'shedding') {
      needed = this.load - Math.ceil(lanes[item.lane].admitBelowLoad * resumeFraction) + 1;
    } else if (reason === 'too-slow') {
      // Enough of the queue ahead must leave for the wait to fit the caller's budget again.
      needed = 1;
      for (const lane of LANES) {
        needed += this.lanes[lane].length;
        if (lane === item.lane) break;
      }
      needed -= this.config.maxBatchCommands;
    } else if (reason === 'lane-full') {
      // The lane frees a slot only after every command ahead of its head (higher lanes) has left.
      needed = 1;
      for (const lane of LANES) {
        if (lane === item.lane) break;
        needed += this.lanes[lane].length;
      }
    } else {
      const average = this.load ? this.bytes / this.load : item.size;
      needed = Math.ceil((this.bytes + item.size - maxQueuedBytes) / Math.max(1, average));
    }
    const rate = this.drained.perBusyMs(now) ?? this.drained.perMs(now);
    const ms = rate > 0 ? Math.max(1, needed) / rate : maxRetryAfterMs;
    return Math.ceil(Math.min(maxRetryAfterMs, Math.max(minRetryAfterMs, ms)));
  }

  private updateShedding(): void {
    const { lanes, resumeFraction } = this.config;
    for (const lane of LANES) {
      const mark = lanes[lane].admitBelowLoad;
      if (lane === 'clock' || mark === Infinity) continue;
      const shed = this.load >= mark ? true : this.load < mark * resumeFraction ? false : this.sheddingNow[lane];
      if (shed !== this.sheddingNow[lane]) {
        this.sheddingNow[lane] = shed;
        this.sheddingChanges++;
      }
    }
  }

  private account(item: QueuedCommand<T>): void {
    if (item.lane === 'clock') this.clockDepth--;
    else {
      this.load--;
      this.bytes -= item.size;
    }
  }

  private drop(item: QueuedCommand<T>, why: DropReason): void {
    if (why === 'expired') this.counters.expired++;
    else this.counters.cancelled++;
    this.onDrop(item, why);
  }
}

function dropReason(item: QueuedCommand<unknown>, now: number): DropReason | undefined {
  if (item.cancelled) return 'cancelled';
  if (now >= item.deadline) return 'expired';
  return undefined;
}
