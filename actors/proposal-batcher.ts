import { TenureError } from '../errors/errors.ts';
import { encodeCommandBatch } from '../machines/raft/command-batch.ts';
import { promiseOf, settleOne, type Settle, type SettleAt } from './settle.ts';

/** Answers one proposed command: an error, or the state machine's result once applied. */
export type ProposalSettle = Settle<unknown, Error>;
/** Answers one of several commands proposed together, by its slot. */
export type ProposalSettleAt = SettleAt<unknown, Error>;

/** A queued command and who answers it: `settle`, or `at` with `slot` (no closure per command). */
interface Queued {
  command: Uint8Array;
  settle: ProposalSettle | null;
  at: ProposalSettleAt | null;
  slot: number;
}

function answer(q: Queued, err: Error | null, result?: unknown): void {
  settleOne(q.settle, q.at, q.slot, err, result);
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
  private flushScheduled = false;
  private pending = new Map<number, Pending>();

  constructor(
    private readonly limits: ProposalLimits,
    /** Appends the entries to the Raft log; returns the first index and the term, or throws. */
    private readonly append: (entries: Uint8Array[]) => { index: number; term: number },
  ) {}

  get queued(): number {
    return this.queue.length;
  }

  get inFlight(): number {
    return this.pending.size;
  }

  enqueue(command: Uint8Array): Promise<unknown> {
    return promiseOf((settle) => this.enqueueWith(command, settle));
  }

  /**
   * The allocation-light form of `enqueue` for the leader's hot path: `settle` is called exactly
   * once, synchronously when the queue is full, else when the entry is applied or lost.
   */
  enqueueWith(command: Uint8Array, settle: ProposalSettle): void {
    this.push({ command, settle, at: null, slot: 0 });
  }

  /** `enqueueWith` answered through `at(slot, …)`: commands proposed together share one callback. */
  enqueueAt(command: Uint8Array, at: ProposalSettleAt, slot: number): void {
    this.push({ command, settle: null, at, slot });
  }

  private push(q: Queued): void {
    if (this.queue.length >= this.limits.maxQueuedCommands) {
      answer(q, new TenureError('Overloaded', 'proposal queue full', { retryAfterMs: 50 }));
      return;
    }
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
    const groups: Queued[][] = [];
    let group: Queued[] = [];
    let bytes = 0;
    for (const q of queued) {
      if (group.length >= this.limits.maxCommandsPerEntry || (group.length > 0 && bytes + q.command.byteLength > this.limits.maxBytesPerEntry)) {
        groups.push(group);
        group = [];
        bytes = 0;
      }
      group.push(q);
      bytes += q.command.byteLength + 4;
    }
    if (group.length) groups.push(group);
    let first: { index: number; term: number };
    try {
      first = this.append(groups.map((g) => encodeCommandBatch(g.map((q) => q.command))));
    } catch (err) {
      for (const q of queued) answer(q, err as Error);
      return;
    }
    groups.forEach((g, i) => {
      this.pending.set(first.index + i, {
        term: first.term,
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
      for (const q of queued) answer(q, err);
    }
  }
}
