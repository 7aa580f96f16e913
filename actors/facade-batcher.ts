/**
 * Coalesces a follower's facade requests: every command forwarded to the same leader in one
 * event-loop turn leaves as ONE `….facade.apply.<leader>` request (the wire always carried a
 * command list; before this each request carried one). Under load a follower receives client
 * requests in bursts — one socket read holds many — so the leader decodes, admits and answers
 * one message per burst instead of one per command.
 *
 * Nothing waits for a batch to fill: the flush runs at the end of the current turn (`defer`:
 * setImmediate on the system clock), so an idle follower adds no latency. Each command keeps its
 * own deadline: its budget travels in `budgets[i]` (the leader drops it unproposed once it
 * passes). A request is answered as a whole, so a turn's commands are grouped by deadline (within
 * 10 % of the remaining budget, at least the reply margin); a command whose deadline passes
 * before its request is answered still gets its own `Timeout` here.
 * A request-level failure (Timeout, NoResponders, NotLeader, …) fails every command of the
 * request with that error; the forwarder's per-command retry logic takes it from there.
 *
 * Bounds: a request carries at most `maxPerRequest` commands and about `maxBytes` of them; a
 * larger turn is split into several requests. Pending commands are bounded by the forwarder's
 * in-flight limit (each command holds a slot until it is answered).
 */
import type { Bus } from '../bus/types.ts';
import type { Subjects } from '../bus/subjects.ts';
import { defer, type Clock } from '../clock/clock.ts';
import { TenureError } from '../errors/errors.ts';
import type { LeaseCommand, LeaseResult } from '../lease/types.ts';
import { facadeSubject, parseFacadeReply, type FacadeApplyRequest } from '../machines/forwarder/wire.ts';
import { approxSize, chunkItems } from '../bus/batching.ts';

/** Commands per facade request (the leader accepts this many by default). */
export const FACADE_MAX_COMMANDS = 256;
/** Estimated bytes of commands per facade request: well under the 64 KiB payload limit. */
export const FACADE_MAX_BATCH_BYTES = 40 * 1024;

interface Item {
  cmd: LeaseCommand;
  /** The only copy of the command (ForwardOptions.firstCopy): listed in the request's `firstCopies`. */
  firstCopy: boolean;
  size: number;
  deadline: number;
  signal?: AbortSignal;
  onAbort?: () => void;
  timer?: unknown;
  done: boolean;
  resolve: (r: LeaseResult) => void;
  reject: (e: TenureError) => void;
}

export interface FacadeBatcherOptions {
  bus: Bus;
  subj: Subjects;
  clock: Clock;
  /** Kept back from each command's budget so the leader's DeadlineExceeded beats our timeout. */
  marginMs: number;
  maxPerRequest?: number;
  maxBytes?: number;
  /** Takes in the leader's global time from a reply before its results are answered. */
  heardTime?: (now: unknown) => void;
}

export class FacadeBatcher {
  readonly counters = { requests: 0, commands: 0 };
  private pending = new Map<string, Item[]>();
  private scheduled = false;
  private readonly maxPerRequest: number;
  private readonly maxBytes: number;

  constructor(private readonly opts: FacadeBatcherOptions) {
    this.maxPerRequest = opts.maxPerRequest ?? FACADE_MAX_COMMANDS;
    this.maxBytes = opts.maxBytes ?? FACADE_MAX_BATCH_BYTES;
  }

  /** Sends `cmd` to `target` with the next flush; resolves with its result or rejects with a typed error. */
  send(target: string, cmd: LeaseCommand, deadline: number, signal?: AbortSignal, firstCopy = false): Promise<LeaseResult> {
    return new Promise<LeaseResult>((resolve, reject) => {
      const item: Item = { cmd, firstCopy, size: approxSize(cmd), deadline, signal, done: false, resolve, reject };
      if (signal) {
        item.onAbort = () => this.finish(item, new TenureError('Cancelled', 'cancelled by the caller; the command may still be applied'));
        signal.addEventListener('abort', item.onAbort, { once: true });
      }
      let list = this.pending.get(target);
      if (!list) this.pending.set(target, (list = []));
      list.push(item);
      if (!this.scheduled) {
        this.scheduled = true;
        defer(this.opts.clock, () => this.flush());
      }
    });
  }

  private flush(): void {
    this.scheduled = false;
    const pending = this.pending;
    this.pending = new Map();
    // A request is answered as a whole, so commands whose deadlines differ much travel apart
    // (otherwise a short-deadline command could not learn its DeadlineExceeded before its timer).
    const limits = { maxCount: this.maxPerRequest, maxBytes: this.maxBytes, deadlines: { now: this.opts.clock.now(), minSpreadMs: this.opts.marginMs } };
    for (const [target, items] of pending) {
      for (const chunk of chunkItems(items.filter((i) => !i.done), limits)) this.sendChunk(target, chunk);
    }
  }

  private sendChunk(target: string, items: Item[]): void {
    const { clock, marginMs } = this.opts;
    const now = clock.now();
    const live: Item[] = [];
    let latest = -Infinity;
    for (const item of items) {
      if (item.deadline <= now) this.finish(item, new TenureError('DeadlineExceeded', 'no time left to forward the command'));
      else {
        live.push(item);
        latest = Math.max(latest, item.deadline);
      }
    }
    if (!live.length) return;
    const budgetOf = (deadline: number): number | null => {
      const remaining = deadline - now;
      return Number.isFinite(remaining) ? Math.max(1, remaining - Math.min(marginMs, remaining / 2)) : null;
    };
    const budgets = live.map((i) => budgetOf(i.deadline));
    const budgetMs = budgetOf(latest);
    const payload: FacadeApplyRequest = { commands: live.map((i) => i.cmd), budgetMs, budgets };
    const firstCopies: number[] = [];
    for (let i = 0; i < live.length; i++) if (live[i].firstCopy) firstCopies.push(i);
    if (firstCopies.length) payload.firstCopies = firstCopies;
    // The request lives as long as its latest command; earlier ones time out on their own.
    for (const item of live) {
      if (item.deadline < latest && Number.isFinite(item.deadline)) {
        item.timer = clock.setTimeout(() => this.finish(item, new TenureError('Timeout', 'no answer from the leader within the deadline')), item.deadline - now);
      }
    }
    this.counters.requests++;
    this.counters.commands += live.length;
    this.opts.bus.request(facadeSubject(this.opts.subj, target), payload, { deadlineMs: latest - now }).then(
      (reply) => {
        const outcomes = parseFacadeReply(reply, live.length);
        if (!outcomes) {
          const err = new TenureError('Internal', 'malformed facade reply');
          for (const item of live) this.finish(item, err);
          return;
        }
        this.opts.heardTime?.((reply as { now?: unknown }).now);
        for (let i = 0; i < live.length; i++) {
          const o = outcomes[i];
          this.finish(live[i], 'error' in o ? TenureError.fromWire(o.error) : null, 'error' in o ? undefined : o.result);
        }
      },
      (err: unknown) => {
        const e = err instanceof TenureError ? err : new TenureError('Internal', String(err));
        for (const item of live) this.finish(item, e);
      },
    );
  }

  private finish(item: Item, err: TenureError | null, result?: LeaseResult): void {
    if (item.done) return;
    item.done = true;
    if (item.timer !== undefined) this.opts.clock.clearTimeout(item.timer);
    if (item.onAbort) item.signal?.removeEventListener('abort', item.onAbort);
    if (err) item.reject(err);
    else item.resolve(result!);
  }
}
