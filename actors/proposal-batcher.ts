import { TenureError } from '../errors/errors.ts';
import { encodeCommandBatch } from '../machines/raft/command-batch.ts';
import type { Settle, SettleAt } from './settle.ts';

/** Answers one proposed command: an error, or the state machine's result once applied. */
export type ProposalSettle = Settle<unknown, Error>;
/** A command to put first in what one flush writes, and how its result comes back (or null: none). */
export type ProposalLead = () => { command: Uint8Array; settle: ProposalSettle } | null;
/** Answers one of several commands proposed together, by its slot. */
export type ProposalSettleAt = SettleAt<unknown, Error>;

/**
 * A queued command answered by `settle` (`count` 0), or a whole entry written by the proposer: a
 * command batch of `count` commands, answered through `at(0 … count-1, …)`, that goes into the log
 * as it is.
 */
interface Queued {
  command: Uint8Array;
  settle: ProposalSettle | null;
  at: ProposalSettleAt | null;
  count: number;
}

function answer(q: Queued, err: Error | null, result?: unknown): void {
  if (q.count === 0) q.settle!(err, result);
  else for (let k = 0; k < q.count; k++) q.at!(k, err, err ? undefined : (result as unknown[])[k]);
}

interface Pending {
  term: number;
  resolve: (results: unknown[]) => void;
  reject: (err: Error) => void;
}

export interface ProposalLimits {
  /** Commands waiting for the next flush; beyond it `enqueue` fails with Overloaded. */
  maxQueuedCommands: number;
  maxCommandsPerEntry: number;
  maxBytesPerEntry: number;
}

/**
 * Leader-side proposal batching: commands proposed in one microtask batch are coalesced into
 * Raft entries bounded by count and bytes; each caller is answered when its entry is applied
 * (or rejected when the entry is lost with leadership).
 */
export class ProposalBatcher {
  private queue: Queued[] = [];
  /** Commands in `queue` (a written entry counts its commands). */
  private queuedCommands = 0;
  private flushScheduled = false;
  private pending = new Map<number, Pending>();
  /**
   * Asked once per flush, before the flush's commands are grouped: a command to put first (the
   * clock updater's setTime, actors/clock-updater.ts), or null. Outside the queue's bound.
   */
  lead: ProposalLead | null = null;

  constructor(
    private readonly limits: ProposalLimits,
    /** Appends the entries to the Raft log; returns the first index and the term, or throws. */
    private readonly append: (entries: Uint8Array[]) => { index: number; term: number },
  ) {}

  get queued(): number {
    return this.queuedCommands;
  }

  get inFlight(): number {
    return this.pending.size;
  }

  /**
   * One command, coalesced with the others of this turn into entries: `settle` is called exactly
   * once, synchronously when the queue is full, else when the entry is applied or lost.
   */
  enqueueWith(command: Uint8Array, settle: ProposalSettle): void {
    this.push({ command, settle, at: null, count: 0 });
  }

  /**
   * A command batch of `count` commands the caller wrote itself (machines/raft/command-batch.ts
   * layout), proposed as one entry of its own: command k is answered through `at(k, …)`. It skips
   * the per-command buffers and the copy into the entry; the caller keeps it within the entry limits.
   */
  enqueueEntryAt(entry: Uint8Array, count: number, at: ProposalSettleAt): void {
    if (!(count > 0)) throw new RangeError('a written entry carries at least one command');
    this.push({ command: entry, settle: null, at, count });
  }

  private push(q: Queued): void {
    const n = q.count === 0 ? 1 : q.count;
    if (this.queuedCommands + n > this.limits.maxQueuedCommands) {
      answer(q, new TenureError('Overloaded', 'proposal queue full', { retryAfterMs: 50 }));
      return;
    }
    this.queuedCommands += n;
    this.queue.push(q);
    if (!this.flushScheduled) {
      this.flushScheduled = true;
      // Everything proposed in this turn (e.g. all requests of one socket read) shares an entry.
      queueMicrotask(() => this.flush());
    }
  }

  /** Tracks a single entry appended elsewhere (membership changes). */
  track(index: number, term: number, resolve: () => void, reject: (e: Error) => void): void {
    this.pending.set(index, { term, resolve, reject });
  }

  private flush(): void {
    this.flushScheduled = false;
    if (this.queue.length === 0) return;
    const queued = this.queue;
    this.queue = [];
    this.queuedCommands = 0;
    const first = this.lead?.();
    if (first) queued.unshift({ command: first.command, settle: first.settle, at: null, count: 0 });
    // Single commands are grouped into entries in order; a written entry stands alone.
    const groups: Queued[][] = [];
    let group: Queued[] = [];
    let bytes = 0;
    for (const q of queued) {
      if (q.count > 0 || group.length >= this.limits.maxCommandsPerEntry || (group.length > 0 && bytes + q.command.byteLength > this.limits.maxBytesPerEntry)) {
        if (group.length) groups.push(group);
        group = [];
        bytes = 0;
      }
      if (q.count > 0) {
        groups.push([q]);
        continue;
      }
      group.push(q);
      bytes += q.command.byteLength + 4;
    }
    if (group.length) groups.push(group);
    let appended: { index: number; term: number };
    try {
      appended = this.append(groups.map((g) => (g[0].count > 0 ? g[0].command : encodeCommandBatch(g.map((q) => q.command)))));
    } catch (err) {
      for (const q of queued) answer(q, err as Error);
      return;
    }
    groups.forEach((g, i) => {
      if (g[0].count > 0) {
        const q = g[0];
        this.pending.set(appended.index + i, { term: appended.term, resolve: (results) => answer(q, null, results), reject: (e) => answer(q, e) });
        return;
      }
      this.pending.set(appended.index + i, {
        term: appended.term,
        resolve: (results) => {
          for (let k = 0; k < g.length; k++) answer(g[k], null, results[k]);
        },
        reject: (e) => {
          for (const q of g) answer(q, e);
        },
      });
    });
  }

  /** The entry at `index` (of `term`) was applied with these results. */
  applied(index: number, term: number, results: unknown[], replaced: () => Error): void {
    const p = this.pending.get(index);
    if (!p) return;
    this.pending.delete(index);
    if (p.term === term) p.resolve(results);
    else p.reject(replaced());
  }

  /** Leadership lost or node stopped: nobody will answer these callers otherwise. */
  failAll(err: Error, includeQueued = true): void {
    for (const p of this.pending.values()) p.reject(err);
    this.pending.clear();
    if (includeQueued) {
      const queued = this.queue;
      this.queue = [];
      this.queuedCommands = 0;
      for (const q of queued) answer(q, err);
    }
  }
}
