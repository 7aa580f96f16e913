/**
 * The forwarder seam: how a node's lease manager gets a command to the Raft leader. Several
 * implementations sit behind it (the facade and legacy pubsub transports, selected by
 * configuration); `DirectForwarder` here is the plain one: propose locally when this node leads,
 * else ask the leader's `raft.<leader>.propose` with the caller's remaining budget.
 *
 * Every outcome is an answer or a typed error, never silence:
 * - deadline already passed → `DeadlineExceeded`, nothing proposed (a caller that gave up must
 *   never see its command applied later);
 * - no leader known → `NoLeader` at once;
 * - budget runs out after the command left → `Timeout` (outcome unknown: retry with the same
 *   clientId and seq, and the FSM returns the first outcome).
 */
import type { Bus } from '../bus/types.ts';
import { subjects, type Subjects } from '../bus/subjects.ts';
import { systemClock, type Clock } from '../clock/clock.ts';
import { TenureError } from '../errors/errors.ts';
import type { LeaseCommand, LeaseResult } from '../lease/types.ts';
import { encodeLeaseCommand } from './lease-state-machine.ts';
import { settleFrom, type Settle, type SettleAt } from './settle.ts';

export interface ForwardOptions {
  /** Absolute deadline on the forwarder's clock (ms). */
  deadline: number;
  signal?: AbortSignal;
  /**
   * This is the only copy of the command ever sent (the client's first attempt, this node's first
   * try): the leader may answer a claim that a held lease refuses without a log entry
   * (actors/held-claims.ts). Never set on a retry or a forward to a hinted leader.
   */
  firstCopy?: boolean;
}

/** Answers one submitted command: an error, or its result. Called exactly once. */
export type SubmitSettle = Settle<LeaseResult>;
/** Answers each of several commands submitted together, by its index: once per command. */
export type SubmitSettleAt = SettleAt<LeaseResult>;

export interface Forwarder {
  submit(cmd: LeaseCommand, opts: ForwardOptions): Promise<LeaseResult>;
  /** Optional callback form of `submit` (no promise per command where the path allows it). */
  submitWith?(cmd: LeaseCommand, opts: ForwardOptions, settle: SubmitSettle): void;
  /** Optional: submits `cmds[i]` with `opts[i]` for every i and answers each through `at(i, …)`. */
  submitMany?(cmds: readonly LeaseCommand[], opts: readonly ForwardOptions[], at: SubmitSettleAt): void;
  close(): Promise<void>;
}

/** `submitWith` when the forwarder has it, else `submit` adapted to the callback. */
export function submitVia(forwarder: Forwarder, cmd: LeaseCommand, opts: ForwardOptions, settle: SubmitSettle): void {
  if (forwarder.submitWith) forwarder.submitWith(cmd, opts, settle);
  else settleFrom(forwarder.submit(cmd, opts), settle);
}

/** `submitMany` when the forwarder has it, else one `submitVia` per command. */
export function submitManyVia(forwarder: Forwarder, cmds: readonly LeaseCommand[], opts: readonly ForwardOptions[], at: SubmitSettleAt): void {
  if (forwarder.submitMany) return forwarder.submitMany(cmds, opts, at);
  for (let i = 0; i < cmds.length; i++) submitVia(forwarder, cmds[i], opts[i], (err, result) => at(i, err, result));
}

/** What the direct forwarder needs from the local Raft node (RaftNode satisfies it). */
export interface LocalRaft {
  readonly id: string;
  readonly role: string;
  readonly leader: string | null;
  propose(command: Uint8Array): Promise<unknown>;
  /** The leader's clock from its reply (RaftNode.heardTime). */
  heardTime?(now: unknown): void;
}

export interface DirectForwarderOptions {
  raft: LocalRaft;
  bus: Bus;
  cluster: string;
  clock?: Clock;
}

export class DirectForwarder implements Forwarder {
  private readonly subj: Subjects;
  private readonly clock: Clock;
  private closed = false;

  constructor(private readonly opts: DirectForwarderOptions) {
    this.subj = subjects(opts.cluster);
    this.clock = opts.clock ?? systemClock;
  }

  async submit(cmd: LeaseCommand, { deadline, signal }: ForwardOptions): Promise<LeaseResult> {
    if (this.closed) throw new TenureError('Cancelled', 'forwarder closed');
    if (signal?.aborted) throw new TenureError('Cancelled', 'request cancelled');
    const remaining = deadline - this.clock.now();
    if (!(remaining > 0)) throw new TenureError('DeadlineExceeded', 'deadline passed before the command was proposed');
    const { raft } = this.opts;
    const bytes = encodeLeaseCommand(cmd);
    if (raft.role === 'leader') {
      return (await withBudget(raft.propose(bytes), remaining, this.clock, signal)) as LeaseResult;
    }
    let leader = raft.leader;
    if (!leader || leader === raft.id) throw new TenureError('NoLeader', 'no leader known', { leader: null });
    // A stale leader answers NotLeader with its successor's id: follow that hint once, at once.
    for (let hop = 0; ; hop++) {
      try {
        return await this.proposeAt(leader, bytes, deadline, signal);
      } catch (err) {
        const hint = err instanceof TenureError && err.code === 'NotLeader' ? err.details.leader : undefined;
        if (hop > 0 || typeof hint !== 'string' || hint === leader || hint === raft.id) throw err;
        leader = hint;
      }
    }
  }

  private async proposeAt(leader: string, bytes: Uint8Array, deadline: number, signal?: AbortSignal): Promise<LeaseResult> {
    const remaining = deadline - this.clock.now();
    if (!(remaining > 0)) throw new TenureError('DeadlineExceeded', 'deadline passed before the command was proposed');
    let reply: { results?: unknown[] };
    try {
      reply = await this.opts.bus.request<{ results?: unknown[] }>(this.subj.raft(leader, 'propose'), { commands: [bytes] }, { deadlineMs: remaining, signal });
    } catch (err) {
      // Nobody listens on the leader's subject: it is gone, and that is known at once.
      if (err instanceof TenureError && err.code === 'NoResponders') {
        throw new TenureError('NoLeader', `leader ${leader} is not reachable`, { leader: null });
      }
      throw err;
    }
    const result = reply.results?.[0];
    if (!result || typeof result !== 'object') throw new TenureError('Internal', 'malformed propose reply');
    this.opts.raft.heardTime?.((reply as { now?: unknown }).now);
    return result as LeaseResult;
  }

  async close(): Promise<void> {
    this.closed = true;
  }
}

/**
 * Waits for `work` at most `budgetMs`. The work itself is not undone (a proposal cannot be taken
 * back); the caller learns the outcome is unknown.
 */
export const MAX_TIMER_MS = 2 ** 31 - 1;

function withBudget<T>(work: Promise<T>, budgetMs: number, clock: Clock, signal?: AbortSignal): Promise<T> {
  return new Promise<T>((resolve, reject) => {
    const finish = () => {
      if (timer !== undefined) clock.clearTimeout(timer);
      signal?.removeEventListener('abort', onAbort);
    };
    const onAbort = () => {
      finish();
      reject(new TenureError('Cancelled', 'request cancelled; the command may still be applied'));
    };
    // Node turns delays beyond 2^31-1 ms into 1 ms: an unbounded budget gets no timer at all.
    const timer =
      budgetMs <= MAX_TIMER_MS
        ? clock.setTimeout(() => {
            finish();
            reject(new TenureError('Timeout', `no outcome within ${Math.round(budgetMs)} ms; retry with the same clientId and seq`));
          }, budgetMs)
        : undefined;
    signal?.addEventListener('abort', onAbort, { once: true });
    work.then(
      (v) => {
        finish();
        resolve(v);
      },
      (e) => {
        finish();
        reject(e);
      },
    );
  });
}
