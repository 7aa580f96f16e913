/**
 * The facade forwarding path's leader side (Juju's raft-api-leases, done with backpressure from the
 * start); the client side is actors/facade-forwarder.ts.
 *
 * `FacadeLeader` (runs on every node; only the leader admits): serves the
 * node-addressed `….facade.apply.<nodeId>`; a follower answers `NotLeader{leader}` (or
 * `NoLeader`) at once. The leader validates each command, offers it to the AdmissionQueue
 * (refusal = `Overloaded` + retryAfterMs) and a dispatcher proposes batches AS SOON AS Raft can
 * take one: up to `maxInflightProposals` batches are in flight; a new batch goes out the moment
 * one resolves or a command arrives while fewer are in flight. There is no idle timer: at low
 * load every command is proposed immediately; under load commands accumulate while proposals
 * are in flight and leave as one batch, written straight into its Raft entry. Expired or cancelled
 * commands are dropped at dequeue and by a sweep while the dispatcher is blocked — never proposed.
 * A claim that is the only copy of its command and that a held lease refuses is answered `Held`
 * after a ReadIndex barrier, without a log entry (`claimReads`; actors/held-claims.ts).
 */
import { createActor, type Actor } from 'xstate';
import type { Bus, IncomingRequest, Subscription } from '../bus/types.ts';
import { subjects, type Subjects } from '../bus/subjects.ts';
import { systemClock, type Clock } from '../clock/clock.ts';
import { notLeaderError, TenureError, toTenureError } from '../errors/errors.ts';
import { silentLogger, type Logger } from '../log/logger.ts';
import type { LeaseCommand, LeaseResult } from '../lease/types.ts';
import { validateCommand } from '../lease/validate.ts';
import { encodedCommandSize, writeLeaseCommand } from '../lease/command-codec.ts';
import { AdmissionQueue, type AdmissionMetrics, type QueuedCommand } from '../machines/admission/queue.ts';
import { laneOf, type AdmissionOverrides } from '../machines/admission/lanes.ts';
import { admissionModeMachine, type AdmissionMode } from '../machines/admission/mode-machine.ts';
import { withTime } from './raft-reads.ts';
import { HeldClaims, type ClaimReads } from './held-claims.ts';
import { facadeSubject, parseFacadeRequest, type FacadeApplyReply, type FacadeOutcome, type RaftProposer } from '../machines/forwarder/wire.ts';
import { commandBatchBytes, writeCommandBatch } from '../machines/raft/command-batch.ts';
import type { Leadership } from './raft-node.ts';
import type { ForwardOptions } from './forwarder.ts';
import { inspectable } from './inspection.ts';
import { promiseOf, settleOne, tally, type Settle, type SettleAt } from './settle.ts';
import { FACADE_MAX_COMMANDS } from './facade-batcher.ts';

export interface FacadeLeaderOptions {
  bus: Bus;
  cluster: string;
  raft: RaftProposer;
  clock?: Clock;
  logger?: Logger;
  admission?: AdmissionOverrides;
  /** Batches proposed to Raft and not yet resolved, at most (default 4). */
  maxInflightProposals?: number;
  /** Commands one facade request may carry (default FACADE_MAX_COMMANDS = 256). */
  maxCommandsPerRequest?: number;
  /** Deadline for requests that carry none (default 10 s). */
  defaultBudgetMs?: number;
  /** Longest a command may wait in the queue whatever its caller says (default 60 s). */
  maxQueueWaitMs?: number;
  /** Least time between two sweeps for expired commands (default 10 ms); keep it below the clients' reply margin. */
  sweepIntervalMs?: number;
  /** Reads for answering refused claims without a log entry (actors/held-claims.ts); absent = every claim goes through the log. */
  claimReads?: ClaimReads;
}

/**
 * A queued command and who answers it: `settle`, or `at` with `slot` (one callback per batch). The
 * validated command waits as it is (its encoded size is the item's `size`) and is written straight
 * into the Raft entry when proposed: no buffer per command, no copy into the entry.
 */
interface Waiting {
  cmd: LeaseCommand;
  settle: Settle<LeaseResult, TenureError> | null;
  at: SettleAt<LeaseResult, TenureError> | null;
  slot: number;
}

function answer(w: Waiting, err: TenureError | null, result?: LeaseResult): void {
  settleOne(w.settle, w.at, w.slot, err, result);
}

export class FacadeLeader {
  readonly queue: AdmissionQueue<Waiting>;
  readonly mode: Actor<typeof admissionModeMachine>;
  /** Refused claims answered without the log (null without `claimReads`). */
  readonly held: HeldClaims | null;
  private readonly subj: Subjects;
  private readonly clock: Clock;
  private readonly log: Logger;
  private readonly maxInflight: number;
  private readonly maxPerRequest: number;
  private readonly defaultBudgetMs: number;
  private readonly maxQueueWaitMs: number;
  private readonly sweepMs: number;
  private inflight = 0;
  private pumpScheduled = false;
  private sweepTimer: unknown = undefined;
  private sweepAt = Infinity;
  private lastSweep = -Infinity;
  private lastShedding = '';
  private lastSheddingVersion = 0;
  private sub: Subscription | null = null;
  private stopped = false;

  constructor(private readonly opts: FacadeLeaderOptions) {
    this.subj = subjects(opts.cluster);
    this.clock = opts.clock ?? systemClock;
    this.log = opts.logger ?? silentLogger;
    this.maxInflight = opts.maxInflightProposals ?? 4;
    this.maxPerRequest = opts.maxCommandsPerRequest ?? FACADE_MAX_COMMANDS;
    this.defaultBudgetMs = opts.defaultBudgetMs ?? 10_000;
    this.maxQueueWaitMs = opts.maxQueueWaitMs ?? 60_000;
    this.sweepMs = opts.sweepIntervalMs ?? 10;
    this.queue = new AdmissionQueue<Waiting>({
      config: opts.admission,
      onDrop: (item, why) =>
        answer(
          item.payload,
          why === 'expired'
            ? new TenureError('DeadlineExceeded', 'deadline passed while queued on the leader; the command was not applied')
            : new TenureError('Cancelled', 'cancelled while queued on the leader; the command was not applied'),
        ),
    });
    this.mode = inspectable(createActor(admissionModeMachine));
    this.held = opts.claimReads ? new HeldClaims(opts.claimReads, this.clock) : null;
  }

  start(): void {
    if (this.sub || this.stopped) return;
    this.mode.start();
    this.sub = this.opts.bus.serve(facadeSubject(this.subj, this.opts.raft.id), (req) => this.onRequest(req));
  }

  async stop(): Promise<void> {
    if (this.stopped) return;
    this.stopped = true;
    this.sub?.unsubscribe();
    if (this.sweepTimer !== undefined) this.clock.clearTimeout(this.sweepTimer);
    this.failQueued(new TenureError('Cancelled', 'leader forwarding stopped; the command was not applied'));
    if (this.sub) this.mode.send({ type: 'STOP' });
    this.mode.stop();
  }

  /** Leadership notification: a node that stops leading answers its queue with NotLeader at once. */
  onLeadership(l: Leadership): void {
    if (l.role !== 'leader') this.failQueued(notLeaderError(l.leader, this.opts.raft.id));
  }

  get modeName(): AdmissionMode {
    return this.mode.getSnapshot().value as AdmissionMode;
  }

  metrics(): AdmissionMetrics & { inflightProposals: number; mode: AdmissionMode; heldClaims: (HeldClaims['counters'] & { waiting: number }) | null } {
    const held = this.held === null ? null : { ...this.held.counters, waiting: this.held.waiting };
    return { ...this.queue.metrics(this.clock.now()), inflightProposals: this.inflight, mode: this.modeName, heldClaims: held };
  }

  /** This node leads and its queue is open: the local path needs no bus and no in-flight slot. */
  get leading(): boolean {
    return !this.stopped && this.opts.raft.role === 'leader';
  }

  /** Enqueues one command on this (leader) node; the local lease manager's path. */
  submitLocal(cmd: LeaseCommand, callerDeadline: number, signal?: AbortSignal, firstCopy = false): Promise<LeaseResult> {
    return promiseOf((settle) => this.enqueue(cmd, callerDeadline, signal, settle, firstCopy));
  }

  /**
   * The callback form of `submitLocal` (no promise per command on the leader's hot path):
   * `settle` runs exactly once — synchronously when the command is refused, else when it is
   * applied, expires, is cancelled or leadership is lost.
   */
  enqueue(cmd: LeaseCommand, callerDeadline: number, signal: AbortSignal | undefined, settle: Settle<LeaseResult, TenureError>, firstCopy = false): void {
    if (!signal) {
      this.admit(cmd, callerDeadline, undefined, settle, null, 0, firstCopy);
      return;
    }
    // Once only: an aborted command may still be answered by its proposal later.
    let answered = false;
    let onAbort: (() => void) | undefined;
    const once: Settle<LeaseResult, TenureError> = (err, result) => {
      if (answered) return;
      answered = true;
      if (onAbort) signal.removeEventListener('abort', onAbort);
      settle(err, result);
    };
    const item = this.admit(cmd, callerDeadline, signal, once, null, 0);
    if (!item) return;
    onAbort = () => {
      item.cancelled = true; // dropped at dequeue if not yet proposed
      once(new TenureError('Cancelled', 'cancelled by the caller'));
    };
    signal.addEventListener('abort', onAbort, { once: true });
  }

  /**
   * `enqueue` for several commands at once (the local lease manager's `lease.batch`), each
   * answered through `at(slot, …)` with its index: one callback for the whole batch instead of a
   * closure per command. Commands with an abort signal take the `enqueue` path.
   */
  enqueueMany(cmds: readonly LeaseCommand[], opts: readonly ForwardOptions[], at: SettleAt<LeaseResult, TenureError>): void {
    for (let i = 0; i < cmds.length; i++) {
      const signal = opts[i].signal;
      if (signal) this.enqueue(cmds[i], opts[i].deadline, signal, (err, result) => at(i, err, result));
      else this.admit(cmds[i], opts[i].deadline, undefined, null, at, i, opts[i].firstCopy === true);
    }
  }

  /**
   * Checks, encodes and offers one command; answers it at once when refused. Returns the queued
   * item (for a caller that watches an abort signal), or null when it was answered already or (a
   * `firstCopy` claim without a signal that a held lease refuses) is answered after a barrier.
   */
  private admit(
    cmd: LeaseCommand,
    callerDeadline: number,
    signal: AbortSignal | undefined,
    settle: Settle<LeaseResult, TenureError> | null,
    at: SettleAt<LeaseResult, TenureError> | null,
    slot: number,
    firstCopy = false,
  ): QueuedCommand<Waiting> | null {
    const raft = this.opts.raft;
    let refusal: TenureError | null = null;
    const now = this.clock.now();
    if (this.stopped) refusal = new TenureError('Cancelled', 'leader forwarding stopped');
    else if (raft.role !== 'leader') refusal = notLeaderError(raft.leader, raft.id);
    else if (signal?.aborted) refusal = new TenureError('Cancelled', 'cancelled before queueing');
    else if (callerDeadline <= now) refusal = new TenureError('DeadlineExceeded', 'no time left to queue the command');
    if (refusal) {
      settleOne(settle, at, slot, refusal);
      return null;
    }
    if (
      firstCopy &&
      signal === undefined &&
      this.held !== null &&
      this.held.take(
        cmd,
        callerDeadline,
        (err, result) => settleOne(settle, at, slot, err, result),
        () => this.admit(cmd, callerDeadline, undefined, settle, at, slot),
      )
    ) {
      return null;
    }
    // Nothing waits forever, even for a caller that gave no deadline.
    const deadline = Math.min(callerDeadline, now + this.maxQueueWaitMs);
    const item: QueuedCommand<Waiting> = {
      lane: laneOf(cmd),
      size: encodedCommandSize(cmd),
      deadline,
      enqueuedAt: now,
      cancelled: false,
      payload: { cmd, settle, at, slot },
    };
    const admission = this.queue.offer(item, now);
    this.reportMode();
    if (!admission.admitted) {
      const { lane, reason, retryAfterMs } = admission;
      settleOne(settle, at, slot, new TenureError('Overloaded', `leader queue refused a ${lane} command (${reason}); retry after ${retryAfterMs} ms`, { retryAfterMs, lane }));
      return null;
    }
    this.schedulePump();
    this.armSweep(deadline);
    return item;
  }

  private onRequest(req: IncomingRequest): Promise<FacadeApplyReply> {
    const raft = this.opts.raft;
    if (this.stopped || raft.role !== 'leader') throw notLeaderError(raft.leader, raft.id);
    const { commands, budgetMs, budgets, firstCopies } = parseFacadeRequest(req.data, this.maxPerRequest);
    const now = this.clock.now();
    const deadline = Math.min(req.deadline, now + (budgetMs ?? this.defaultBudgetMs));
    return tally<FacadeOutcome>(commands.length, (finish) => {
      const slots: number[] = [];
      const cmds: LeaseCommand[] = [];
      const opts: ForwardOptions[] = [];
      let nextFirst = 0; // firstCopies is ascending
      for (let i = 0; i < commands.length; i++) {
        const firstCopy = firstCopies !== undefined && firstCopies[nextFirst] === i;
        if (firstCopy) nextFirst++;
        try {
          cmds.push(validateCommand(commands[i]));
        } catch (err) {
          finish(i, { error: toTenureError(err).toWire() });
          continue;
        }
        const own = budgets?.[i];
        slots.push(i);
        opts.push({ deadline: own == null ? deadline : Math.min(deadline, now + own), firstCopy });
      }
      this.enqueueMany(cmds, opts, (k, err, result) => finish(slots[k], err ? { error: err.toWire() } : { result: result! }));
    }).then((outcomes) => withTime({ outcomes }, raft.timeNow?.()));
  }

  private schedulePump(): void {
    if (this.pumpScheduled) return;
    this.pumpScheduled = true;
    // A microtask, not a timer: everything that arrived in this turn joins the first batch.
    queueMicrotask(() => {
      this.pumpScheduled = false;
      this.pump();
    });
  }

  /** Proposes one batch if Raft can take one; reschedules itself while it can take more. */
  private pump(): void {
    if (this.stopped || this.inflight >= this.maxInflight || this.queue.size === 0) return;
    const raft = this.opts.raft;
    if (raft.role !== 'leader') {
      this.failQueued(notLeaderError(raft.leader, raft.id));
      return;
    }
    const batch = this.queue.takeBatch(this.clock.now());
    this.reportMode();
    if (batch.length) this.propose(batch);
    // One batch per turn, so each goes to Raft as its own proposal (RaftNode coalesces a turn).
    if (this.queue.size > 0 && this.inflight < this.maxInflight) this.schedulePump();
  }

  private propose(batch: QueuedCommand<Waiting>[]): void {
    this.inflight++;
    const raft = this.opts.raft;
    let left = batch.length;
    // One callback for the whole batch, told which command by its slot.
    const answerAt = (k: number, err: Error | null, result?: unknown) => {
      const item = batch[k];
      if (err) answer(item.payload, toTenureError(err));
      else {
        this.queue.recordCommitted(item, this.clock.now());
        answer(item.payload, null, result as LeaseResult);
      }
      if (--left > 0) return;
      this.inflight--;
      this.schedulePump();
    };
    // Written straight into entries, as many as the batch needs within Raft's entry limits.
    const { maxCommands, maxBytes } = raft.entryLimits;
    let from = 0;
    while (from < batch.length) {
      let to = from;
      let commandBytes = 0;
      while (to < batch.length && to - from < maxCommands && (to === from || commandBatchBytes(to - from + 1, commandBytes + batch[to].size) <= maxBytes)) commandBytes += batch[to++].size;
      this.proposeEntry(batch, from, to, commandBytes, answerAt);
      from = to;
    }
  }

  /** Proposes `batch[from … to)` (`commandBytes` encoded) as one written entry, answered through `answerAt(from + k, …)`. */
  private proposeEntry(batch: QueuedCommand<Waiting>[], from: number, to: number, commandBytes: number, answerAt: (k: number, err: Error | null, result?: unknown) => void): void {
    let entry: Uint8Array;
    try {
      entry = writeCommandBatch(to - from, commandBytes, (out, view, at, i) => writeLeaseCommand(batch[from + i].payload.cmd, out, view, at));
    } catch (err) {
      for (let k = from; k < to; k++) answerAt(k, err as Error);
      return;
    }
    this.opts.raft.proposeEntryAt(entry, to - from, from === 0 ? answerAt : (k, err, result) => answerAt(from + k, err, result));
  }

  /**
   * Answers expired commands while the dispatcher cannot dequeue (Raft stalled, proposals in
   * flight): a timer at the earliest queued deadline, at most one sweep per `sweepIntervalMs`.
   */
  private armSweep(deadline: number): void {
    if (this.stopped || deadline === Infinity) return;
    const at = Math.max(deadline, this.lastSweep + this.sweepMs);
    if (this.sweepTimer !== undefined) {
      if (at >= this.sweepAt) return;
      this.clock.clearTimeout(this.sweepTimer);
    }
    this.sweepAt = at;
    this.sweepTimer = this.clock.setTimeout(() => this.sweep(), Math.max(0, at - this.clock.now()));
  }

  private sweep(): void {
    this.sweepTimer = undefined;
    this.sweepAt = Infinity;
    if (this.stopped) return;
    const now = this.clock.now();
    this.lastSweep = now;
    const { nextDeadline } = this.queue.purge(now);
    this.reportMode();
    this.armSweep(nextDeadline);
    this.schedulePump();
  }

  private failQueued(err: TenureError): void {
    const items = this.queue.drainAll(this.clock.now());
    for (const item of items) answer(item.payload, err);
    if (items.length) {
      this.log.debug({ commands: items.length, code: err.code }, 'facade queue answered without proposing');
      this.reportMode();
    }
  }

  /** One event per change of the shedding set, never per command. */
  private reportMode(): void {
    // Called per command: the set is only looked at when the queue says it changed.
    const version = this.queue.sheddingVersion;
    if (version === this.lastSheddingVersion) return;
    this.lastSheddingVersion = version;
    const shedding = this.queue.shedding();
    const key = shedding.join(',');
    if (key === this.lastShedding || this.stopped) return;
    this.lastShedding = key;
    this.mode.send({ type: 'PRESSURE', shedding, at: this.clock.now() });
    this.log.info({ shedding, load: this.queue.metrics(this.clock.now()).load }, shedding.length ? 'admission shedding' : 'admission open');
  }
}
