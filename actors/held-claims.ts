/**
 * Claims a held lease refuses, answered by the leader without a log entry.
 *
 * A claim of a lease another holder keeps is refused `Held` (in the seed's leaseclaimer runs, two of
 * three claims are). Through the log each is a command replicated, written and applied on every
 * node for an outcome that changes nothing. Instead the facade leader answers such a claim from its applied
 * state after a ReadIndex barrier started after the claim arrived, so the answer is linearizable:
 * it is the state at a moment between the claim's arrival and its answer, exactly what applying the
 * claim at that moment would have answered (LeaseFsm.claimRefusal, checked against `apply` by a
 * property test). If the lease came free meanwhile, the claim goes on to the queue and the log.
 *
 * What this skips is the dedupe entry `apply` makes for a refused claim, which is what makes a
 * repeat of the same (clientId, seq) answer the first outcome. A repeat that applied after a
 * `Held` told without the log could grant the lease to a caller that was told it did not get it.
 * So only a claim that is the ONLY copy of its (clientId, seq) ever sent is taken here
 * (`ForwardOptions.firstCopy`): the client's first attempt (`attempt: 1` in the body, or a
 * request without an identity, for which the node makes a fresh one), on the receiving node's
 * first try, not a forward to a hinted leader. A client that retries sends `attempt` 2, 3, …;
 * those, and every retry a node makes, go through the log as before. This relies on NATS core
 * delivering a message at most once (neither nats-server nor the client library duplicates one).
 *
 * Claims racing for a lease that is still free when they arrive go through the log: the first to
 * apply wins. (Parking them behind the rival already in the log was tried and measured no gain: the
 * rivals ride in the winner's Raft round anyway — docs/benchmarks.md, thirty-first session.)
 *
 * Bound: at most `maxPending` claims wait for a barrier here (default 10,000); beyond it claims go
 * to the queue and the log, where admission bounds them as before. Claims taken here skip the
 * leader's admission queue (they cost it no Raft work); the lease managers still shed claims first.
 * Barriers are shared: the claims that arrive in one event-loop turn wait for one barrier started
 * at the end of that turn.
 */
import type { Clock } from '../clock/clock.ts';
import { TenureError, toTenureError } from '../errors/errors.ts';
import type { LeaseCommand, LeaseResult } from '../lease/types.ts';

/** What the leader reads for a claim it may answer without the log (TenureNode provides it). */
export interface ClaimReads {
  /** ReadIndex: resolves once this node has applied everything committed before the call; rejects (NotLeader, DeadlineExceeded…) otherwise. */
  barrier(deadlineMs: number): Promise<unknown>;
  /** `LeaseFsm.claimRefusal` on the node's current state machine. */
  refusal(cmd: LeaseCommand & { op: 'claim' }): LeaseResult | null;
}

type Answer = (err: TenureError | null, result?: LeaseResult) => void;

interface Taken {
  cmd: LeaseCommand & { op: 'claim' };
  deadline: number;
  answer: Answer;
  /** The claim goes on to the queue (the lease came free while the barrier ran). */
  admit: () => void;
}

export const DEFAULT_MAX_PENDING_HELD = 10_000;

export class HeldClaims {
  /** answered: refused without a log entry; admitted: came free, sent on to the log; failed: barrier failed (NotLeader, deadline). */
  readonly counters = { answered: 0, admitted: 0, failed: 0, barriers: 0 };
  private pending = 0;
  private turn: Taken[] = [];
  private readonly maxPending: number;

  constructor(
    private readonly reads: ClaimReads,
    private readonly clock: Clock,
    maxPending = DEFAULT_MAX_PENDING_HELD,
  ) {
    this.maxPending = maxPending;
  }

  /** Claims waiting for a barrier now. */
  get waiting(): number {
    return this.pending;
  }

  /**
   * Takes `cmd` if it may be answered without the log: a claim (the caller checked it is the only
   * copy) that the applied state refuses now, with time left. Then, after a barrier, `answer` gets
   * the refusal or the barrier's error, or `admit` runs when the lease came free. Returns false,
   * having done nothing, otherwise.
   */
  take(cmd: LeaseCommand, deadline: number, answer: Answer, admit: () => void): boolean {
    if (cmd.op !== 'claim' || this.pending >= this.maxPending) return false;
    if (!(deadline > this.clock.now())) return false;
    if (this.reads.refusal(cmd) === null) return false;
    this.pending++;
    if (this.turn.length === 0) queueMicrotask(this.startBarrier);
    this.turn.push({ cmd, deadline, answer, admit });
    return true;
  }

  private readonly startBarrier = (): void => {
    const batch = this.turn;
    this.turn = [];
    if (batch.length === 0) return;
    let latest = -Infinity;
    for (const t of batch) if (t.deadline > latest) latest = t.deadline;
    this.counters.barriers++;
    this.reads.barrier(Math.max(1, latest - this.clock.now())).then(
      () => this.settle(batch, null),
      (err: unknown) => this.settle(batch, toTenureError(err)),
    );
  };

  private settle(batch: Taken[], err: TenureError | null): void {
    this.pending -= batch.length;
    const now = this.clock.now();
    for (const t of batch) {
      if (err) {
        this.counters.failed++;
        t.answer(err);
        continue;
      }
      if (t.deadline <= now) {
        this.counters.failed++;
        t.answer(new TenureError('DeadlineExceeded', 'deadline passed while the claim was read; it was not applied'));
        continue;
      }
      // Read now, after the barrier: the state at a moment after the claim arrived.
      const refusal = this.reads.refusal(t.cmd);
      if (refusal === null) {
        this.counters.admitted++;
        t.admit();
      } else {
        this.counters.answered++;
        t.answer(null, refusal);
      }
    }
  }
}
