/**
 * A Raft node's linearizable reads: a ReadIndex round when it leads (confirmed by a quorum's
 * heartbeat replies), else one request to the leader shared by every caller that arrives while it
 * is out; then a wait until the local apply reaches the read index. A follower that knows no leader,
 * or whose leader has no responders (gone, its connection with it), holds the read until a leader
 * is known — another one, after no responders — within the read's deadline, instead of answering
 * NoLeader at once: during an election every waiting client would otherwise retry on a backoff
 * against the nodes holding the election (docs/benchmarks.md, thirty-third session).
 *
 * And what the node's answers to other nodes carry of the state machine's clock
 * (`StateMachine.timeNow` / `heardTime`): a leader's replies say its global time, so a follower never
 * answers from an older one.
 */
import type { Bus } from '../bus/types.ts';
import type { Subjects } from '../bus/subjects.ts';
import { TenureError } from '../errors/errors.ts';
import type { RaftCore } from '../machines/raft/core.ts';
import type { Clock } from '../clock/clock.ts';
import type { StateMachine } from './raft-node-options.ts';
import { beforeDeadline, ReadWaiters, SharedRequest } from './read-waiters.ts';

export interface RaftReadsDeps {
  bus: Bus;
  subj: Subjects;
  stateMachine: StateMachine;
  /** The node's clock (a SimClock in simulations): read deadlines run on it. */
  clock: Clock;
  /** The node's Raft core (created when the node starts). */
  core: () => RaftCore;
  /** Starts a ReadIndex round with `ctx`; `respond` gets an error when one cannot start (not leader). */
  dispatchRead: (ctx: number, respond: (err: Error | null) => void) => void;
  /** A Raft error as callers see it (NotLeader, Overloaded…). */
  mapError: (err: Error) => Error;
}

export class RaftReads {
  /** ReadIndex rounds in flight and callers waiting for the apply index: the Ready loop answers them. */
  readonly waiters = new ReadWaiters();
  private readonly leaderReads = new SharedRequest<number>();
  /** Reads held until a leader (another one) is known: at most the one shared request and the one queued behind it. */
  private readonly leaderWaits = new Set<() => void>();

  constructor(private readonly d: RaftReadsDeps) {}

  /**
   * Resolves once this node has applied everything committed before the call (ReadIndex, asking
   * the leader when this node is a follower), or rejects with DeadlineExceeded after `deadlineMs`.
   */
  barrier(deadlineMs: number): Promise<number> {
    const read = this.d.core().role === 'leader' ? this.asLeader() : this.fromLeader(deadlineMs);
    const safe = read.then((index) => this.waitApplied(index).then(() => index));
    // The caller's deadline holds whatever the read waits on (a shared request, a lagging apply).
    return beforeDeadline(safe, deadlineMs, () => new TenureError('DeadlineExceeded', 'deadline passed before the read was confirmed'), this.d.clock);
  }

  waitApplied(index: number): Promise<void> {
    return this.waiters.waitApplied(index, this.d.core().log.applied);
  }

  /** `raft.<id>.readIndex`: the read index a follower asked for, with this leader's clock. */
  readonly serveReadIndex = async (): Promise<{ index: number; now?: number }> => this.withTime({ index: await this.asLeader() });

  /** The state machine's clock as of now, if it has one: a leader's replies to other nodes carry it. */
  timeNow(): number | undefined {
    return this.d.stateMachine.timeNow?.();
  }

  /** `reply` with `now` (timeNow) added when the state machine has a clock. */
  withTime<T extends object>(reply: T): T & { now?: number } {
    return withTime(reply, this.timeNow());
  }

  /** The leader's clock from a reply (withTime), for the state machine. */
  heardTime(now: unknown): void {
    if (typeof now === 'number') this.d.stateMachine.heardTime?.(now);
  }

  private asLeader(): Promise<number> {
    const { ctx, index } = this.waiters.startRead();
    this.d.dispatchRead(ctx, (err) => err && this.waiters.readFailed(ctx, this.d.mapError(err)));
    return index;
  }

  private fromLeader(deadlineMs: number): Promise<number> {
    const clock = this.d.clock;
    return this.leaderReads.run(clock.now() + deadlineMs, (ms) => this.askLeader(clock.now() + ms), () => clock.now());
  }

  /**
   * The leader's read index, asked for until `end`: of a leader once one is known; of another when
   * the one asked has no responders, or when another becomes known while the question is out — a
   * leader that stands still (SIGSTOP, a long GC pause) keeps its subscription and answers nothing,
   * and without this every read on this node would wait for the first one's deadline (up to a
   * wait's 10 s) although the cluster had elected another leader long before.
   */
  private async askLeader(end: number): Promise<number> {
    const clock = this.d.clock;
    for (let skip: string | null = null; ; ) {
      const leader = await this.leaderOtherThan(skip, end);
      if (this.d.core().role === 'leader') return this.asLeader();
      const asked = this.d.bus.request<{ index: number; now?: unknown }>(this.d.subj.raft(leader, 'readIndex'), {}, { deadlineMs: Math.max(1, end - clock.now()) });
      const other = this.watchLeader(leader, end);
      try {
        const first = await Promise.race([asked.then((r) => ({ r })), other.next.then((l) => ({ l }))]);
        if ('r' in first) {
          this.heardTime(first.r.now);
          return first.r.index;
        }
        if (first.l === null) {
          // Time is up: the question's own outcome.
          const r = await asked;
          this.heardTime(r.now);
          return r.index;
        }
        asked.catch(() => {}); // another leader is known: its answer no longer matters
        skip = leader;
      } catch (err) {
        if (!(err instanceof TenureError && err.code === 'NoResponders') || end - clock.now() < 1) throw err;
        skip = leader; // its process is gone: the next leader will be another node
      } finally {
        other.cancel();
      }
    }
  }

  /** The leader this node knows, once it knows one other than `not`; NoLeader at `end`. */
  private leaderOtherThan(not: string | null, end: number): Promise<string> {
    return this.watchLeader(not, end).next.then((lead) => {
      if (lead === null) throw new TenureError('NoLeader', not === null ? 'no leader known' : `leader ${not} did not answer and no other is known`);
      return lead;
    });
  }

  /** Resolves with the leader this node knows once it is one other than `not`, or null at `end`; `cancel` stops watching. */
  private watchLeader(not: string | null, end: number): { next: Promise<string | null>; cancel: () => void } {
    const known = (): string | null => {
      const lead = this.d.core().lead;
      return lead && lead !== not ? lead : null;
    };
    const now = known();
    if (now !== null) return { next: Promise.resolve(now), cancel: () => {} };
    const clock = this.d.clock;
    let cancel = () => {};
    const next = new Promise<string | null>((resolve) => {
      const check = () => {
        const lead = known();
        if (lead === null) return;
        cancel();
        resolve(lead);
      };
      const timer = clock.setTimeout(() => {
        cancel();
        resolve(null);
      }, Math.max(0, end - clock.now()));
      cancel = () => {
        this.leaderWaits.delete(check);
        clock.clearTimeout(timer);
      };
      this.leaderWaits.add(check);
    });
    return { next, cancel };
  }

  /** Called by the node after every change of leader, role or term: reads held for a leader go on. */
  leadershipChanged(): void {
    for (const check of [...this.leaderWaits]) check();
  }
}

/** A leader's reply to another node with its global time `now` (none when it has no clock). */
export function withTime<T extends object>(reply: T, now: number | undefined): T & { now?: number } {
  return now === undefined ? reply : Object.assign(reply, { now });
}
