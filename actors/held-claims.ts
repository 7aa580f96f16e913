/**
 * Claims a held lease refuses, answered by the leader without a log entry.
 *
 * In a herd (a lease lost, every unit of it claiming at once) all claims but one are refused
 * `Held`. Through the log each is a command replicated, written and applied on every node for an
 * outcome that changes nothing. Instead the facade leader answers such a claim from its applied
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
 * Claims that race for a free lease: when a claim of the same key by another holder is already in
 * the leader's queue or log (`queued`), a first-copy claim waits for that claim's outcome instead of
 * entering the log behind it ("parked"). Once it is applied the parked claims are decided as above —
 * in a herd, where every unit of a lost lease claims at once, all but the winner are answered `Held`
 * without a log entry; if it failed (not applied, or its outcome unknown) they are taken again from
 * the start. Every answer given here rests on a confirmation of this node's leadership after the
 * claim arrived: a ReadIndex barrier started after it, or — for a claim parked behind a rival that
 * had not reached Raft yet — that rival's commit in this leader's term (its entry comes after every
 * index committed when the parked claim arrived; a quorum accepted it after that, so no other
 * leader can have committed anything before; a barrier there would only cost a round).
 *
 * Bound: at most `maxPending` claims wait here, for a barrier or parked (default 10,000); beyond it
 * claims go to the queue and the log, where admission bounds them as before. Barriers are shared:
 * the claims that arrive in one event-loop turn wait for one barrier started at the end of that
 * turn. A parked claim waits as long as the claim it follows (which its deadline bounds, or a change
 * of leader answers); one whose own deadline passed meanwhile is answered `DeadlineExceeded`.
 */
import type { Clock } from '../clock/clock.ts';
import { TenureError, toTenureError } from '../errors/errors.ts';
import type { LeaseCommand, LeaseResult } from '../lease/types.ts';
import { keyId } from '../lease/state.ts';

/** What the leader reads for a claim it may answer without the log (TenureNode provides it). */
export interface ClaimReads {
  /** ReadIndex: resolves once this node has applied everything committed before the call; rejects (NotLeader, DeadlineExceeded…) otherwise. */
  barrier(deadlineMs: number): Promise<unknown>;
  /** `LeaseFsm.claimRefusal` on the node's current state machine. */
  refusal(cmd: LeaseCommand & { op: 'claim' }): LeaseResult | null;
}

type Answer = (err: TenureError | null, result?: LeaseResult) => void;

type Claim = LeaseCommand & { op: 'claim' };

interface Taken {
  cmd: Claim;
  deadline: number;
  answer: Answer;
  /**
   * The claim goes on: to the queue (`firstCopy` false), or through `take` again (true), which may
   * park it behind a claim of its key now in the queue.
   */
  admit: (firstCopy: boolean) => void;
  /**
   * Parked behind a claim that had not reached Raft yet: that claim's entry will come after every
   * index committed when this one arrived, so its commit, in this leader's term, confirms the
   * leadership after this claim arrived — once it is applied no barrier is needed.
   */
  confirmedByRival?: boolean;
}

/** A claim in the leader's queue or log; first-copy claims of its key by other holders park behind it. */
export class QueuedClaim {
  parked: Taken[] | null = null;
  /** Handed to Raft (FacadeLeader.propose): claims parking from now on need a barrier of their own. */
  proposed = false;
  constructor(
    private readonly owner: HeldClaims,
    readonly id: string,
    readonly holder: string,
  ) {}

  /** The claim was answered: `applied` when the answer is its result from the log. */
  answered(applied: boolean): void {
    this.owner.release(this, applied);
  }
}

export const DEFAULT_MAX_PENDING_HELD = 10_000;

export class HeldClaims {
  /** answered: refused without a log entry; admitted: came free, sent on; failed: barrier failed (NotLeader, deadline); parked: waited for a rival claim's outcome. */
  readonly counters = { answered: 0, admitted: 0, failed: 0, barriers: 0, parked: 0 };
  private pending = 0;
  /** Per key, the claim last queued (until answered). */
  private readonly queuedByKey = new Map<string, QueuedClaim>();
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
  take(cmd: LeaseCommand, deadline: number, answer: Answer, admit: (firstCopy: boolean) => void): boolean {
    if (cmd.op !== 'claim' || this.pending >= this.maxPending) return false;
    if (!(deadline > this.clock.now())) return false;
    if (this.reads.refusal(cmd) === null) {
      // Free (or held by this holder) as far as this node has applied: wait for a rival claim
      // already on its way through the log, if there is one.
      const ahead = this.queuedByKey.get(keyId(cmd.key.namespace, cmd.key.model, cmd.key.lease));
      if (ahead === undefined || ahead.holder === cmd.holder) return false;
      this.pending++;
      this.counters.parked++;
      (ahead.parked ??= []).push({ cmd, deadline, answer, admit, confirmedByRival: !ahead.proposed });
      return true;
    }
    this.pending++;
    this.join({ cmd, deadline, answer, admit });
    return true;
  }

  /** `cmd` entered the queue: answer the returned handle once it is answered. */
  queued(cmd: Claim): QueuedClaim {
    const q = new QueuedClaim(this, keyId(cmd.key.namespace, cmd.key.model, cmd.key.lease), cmd.holder);
    this.queuedByKey.set(q.id, q);
    return q;
  }

  /** QueuedClaim.answered: the claims parked behind `q` join a barrier (it was applied) or start again. */
  release(q: QueuedClaim, applied: boolean): void {
    if (this.queuedByKey.get(q.id) === q) this.queuedByKey.delete(q.id);
    const parked = q.parked;
    if (parked === null) return;
    q.parked = null;
    const now = this.clock.now();
    for (const t of parked) {
      if (!applied) {
        this.pending--;
        t.admit(true);
      } else if (t.confirmedByRival) {
        this.pending--;
        this.decide(t, now);
      } else this.join(t);
    }
  }

  /** Adds a taken claim to this turn's barrier. */
  private join(t: Taken): void {
    if (this.turn.length === 0) queueMicrotask(this.startBarrier);
    this.turn.push(t);
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
      } else this.decide(t, now);
    }
  }

  /** Answers `t` from the applied state, read now — a moment after it arrived at which this node led. */
  private decide(t: Taken, now: number): void {
    if (t.deadline <= now) {
      this.counters.failed++;
      t.answer(new TenureError('DeadlineExceeded', 'deadline passed while the claim was read; it was not applied'));
      return;
    }
    const refusal = this.reads.refusal(t.cmd);
    if (refusal === null) {
      // Free now: on through `take`, which parks it behind a rival queued meanwhile, else queues it.
      this.counters.admitted++;
      t.admit(true);
    } else {
      this.counters.answered++;
      t.answer(null, refusal);
    }
  }
}
