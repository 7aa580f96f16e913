import { createActor, type Actor } from 'xstate';
import type { Subscription } from '../bus/types.ts';
import { asBuffer } from '../bus/codec.ts';
import { subjects, type Subjects } from '../bus/subjects.ts';
import { Rng } from '../clock/clock.ts';
import { SnapshotPolicy } from './snapshot-policy.ts';
import { notLeaderError, TenureError } from '../errors/errors.ts';
import { RaftCore, RaftError, type Ready, type Role } from '../machines/raft/core.ts';
import { RaftLog } from '../machines/raft/log.ts';
import { raftMachine } from '../machines/raft/machine.ts';
import { RaftChart } from './raft-chart.ts';
import type { RaftMessage } from '../machines/raft/messages.ts';
import { decodeCommandBatch } from '../machines/raft/command-batch.ts';
import { EntryType, type NodeId, type SnapshotMeta } from '../machines/raft/types.ts';
import { LatestMailbox } from './latest-mailbox.ts';
import { withDefaults, type RaftNodeOptions, type ResolvedRaftNodeOptions, type StateMachine } from './raft-node-options.ts';
import { ProposalBatcher, type ProposalLead, type ProposalSettleAt } from './proposal-batcher.ts';
import { promiseOf } from './settle.ts';
import { RaftReads } from './raft-reads.ts';
import { SnapshotReceiver, SnapshotSender } from './snapshot-transfer.ts';
import { SnapshotTaker } from './snapshot-taker.ts';
import { inspectable } from './inspection.ts';
import { WritePipeline } from './write-pipeline.ts';
import { RaftTimings } from './raft-timings.ts';

export type { RaftNodeOptions, StateMachine };

export interface Leadership {
  role: Role;
  leader: NodeId | null;
  term: number;
}

/**
 * A Raft node: the XState machine for roles and timers plus the I/O around it (bus, storage,
 * apply). One Ready loop issues each batch's disk write (one fsync per batch; up to 4 in flight,
 * finished in order) and applies; what must wait for a write runs once it is durable.
 */
export class RaftNode {
  readonly id: NodeId;
  readonly leadership = new LatestMailbox<Leadership>();
  private core!: RaftCore;
  private actor!: Actor<typeof raftMachine>;
  /** Write-path events go through here (actors/raft-chart.ts); the rest straight to the actor. */
  private chart!: RaftChart;
  private subs: Subscription[] = [];
  private readonly subj: Subjects;
  private readonly opts: ResolvedRaftNodeOptions;
  private proposals!: ProposalBatcher;
  private readyRunning = false;
  /** The Ready loop is blocked on the disk (a leader's new appends need not wait for it). */
  private persisting = false;
  private readyAgain = false;
  /** Disk writes in flight (at most 4), finished in order; what waits for them. */
  private writes = new WritePipeline(4, (err) => this.fail(err));
  /** Where the time of a Raft round goes (status `timings`; see actors/raft-timings.ts). */
  readonly timings = new RaftTimings();
  /** Linearizable reads and the clock carried by answers to other nodes (actors/raft-reads.ts). */
  private readonly reads: RaftReads;
  private readonly snapshotSender: SnapshotSender;
  private receiver: SnapshotReceiver;
  private lastLeadership: Leadership = { role: 'follower', leader: null, term: 0 };
  private stopped = false;
  private failure: Error | null = null;
  private snapshots: SnapshotTaker;
  private readonly snapshotPolicy: SnapshotPolicy;

  constructor(opts: RaftNodeOptions) {
    this.id = opts.id;
    this.subj = subjects(opts.cluster);
    this.opts = withDefaults(opts);
    this.receiver = new SnapshotReceiver(256 * 1024 * 1024);
    this.reads = new RaftReads({
      bus: this.opts.bus,
      subj: this.subj,
      stateMachine: this.opts.stateMachine,
      clock: this.opts.clock,
      core: () => this.core,
      dispatchRead: (ctx, respond) => this.chart.dispatch({ type: 'READ_INDEX', ctx, respond }),
      mapError: (err) => this.mapError(err),
    });
    const { bus, storage, snapshotChunkBytes: chunkBytes, rpcTimeoutMs, logger } = this.opts;
    this.snapshotSender = new SnapshotSender({ bus, subj: this.subj, storage, from: this.id, chunkBytes, timeoutMs: rpcTimeoutMs * 4, logger });
    this.snapshots = new SnapshotTaker({
      stateMachine: this.opts.stateMachine,
      storage: this.opts.storage,
      logger: this.opts.logger,
      sliceMs: this.opts.snapshotSliceMs,
      onSaved: (meta) => !this.stopped && this.actor.send({ type: 'COMPACTED', meta }),
    });
    const { snapshotEveryEntries: everyEntries, snapshotEveryBytes: everyBytes, seed, snapshotBusy: busy } = this.opts;
    this.snapshotPolicy = new SnapshotPolicy({ everyEntries, everyBytes, seed, busy });
  }

  /** Loads the log and snapshot from storage, restores the state machine and starts serving. */
  async start(): Promise<void> {
    const { storage, stateMachine } = this.opts;
    const loaded = await storage.load();
    const snap: SnapshotMeta = loaded.snapshot ?? { index: 0, term: 0, config: { voters: [...this.opts.voters].sort() }, size: 0, checksum: 0 };
    if (loaded.snapshot) {
      const stored = await storage.readSnapshot();
      if (stored) await stateMachine.restore(stored.chunks);
    }
    const log = new RaftLog(snap, loaded.entries, loaded.hardState.commit);
    this.core = new RaftCore(
      {
        id: this.id,
        maxInflight: this.opts.maxInflight,
        maxEntriesPerMessage: this.opts.maxEntriesPerMessage,
        maxBytesPerMessage: this.opts.maxBytesPerMessage,
      },
      loaded.hardState,
      log,
    );
    this.proposals = new ProposalBatcher(this.opts, (datas) => this.appendCommands(datas));
    this.proposals.lead = this.proposalLead;
    const { electionMinMs, electionMaxMs, heartbeatMs } = this.opts;
    const input = { core: this.core, rng: new Rng(this.opts.seed), electionMinMs, electionMaxMs, heartbeatMs, now: () => this.opts.clock.now() };
    this.actor = inspectable(createActor(raftMachine, { clock: this.opts.clock, input }));
    this.chart = new RaftChart(this.actor, () => this.afterTransition(), (err) => this.fail(err));
    const bus = this.opts.bus;
    const raftLimit = this.opts.maxBytesPerMessage * 2 + 64 * 1024;
    this.subs.push(
      bus.serve(this.subj.raft(this.id, 'msg'), (req) => this.onMessage(req.data as RaftMessage), { maxPayloadBytes: raftLimit }),
      bus.serve(this.subj.raft(this.id, 'snapshot'), (req) => this.receiver.onChunk(req.data as never), { maxPayloadBytes: raftLimit }),
      bus.serve(this.subj.raft(this.id, 'readIndex'), this.reads.serveReadIndex),
      bus.serve(this.subj.raft(this.id, 'propose'), (req) => this.onProposeRpc(req.data)),
      bus.serve(this.subj.raft(this.id, 'status'), () => this.status()),
    );
    this.actor.start();
    this.kick();
  }

  async stop(): Promise<void> {
    if (this.stopped) return;
    this.stopped = true;
    this.snapshots.stop();
    for (const s of this.subs) s.unsubscribe();
    this.actor?.stop();
    const err = new TenureError('NotLeader', 'node stopped', { leader: null });
    this.proposals?.failAll(err);
    this.reads.waiters.failAll(err);
  }

  // ---- public API --------------------------------------------------------------------------

  get role(): Role {
    return this.core.role;
  }

  get leader(): NodeId | null {
    return this.core.lead;
  }

  /** The voters of the configuration this node knows. */
  get voters(): readonly NodeId[] {
    return this.core.config.voters;
  }

  get term(): number {
    return this.core.term;
  }

  get commitIndex(): number {
    return this.core.log.committed;
  }

  get appliedIndex(): number {
    return this.core.log.applied;
  }

  get lastIndex(): number {
    return this.core.log.lastIndex();
  }

  /** Read-only view for invariant checks in the simulator. */
  get raftCore(): RaftCore {
    return this.core;
  }

  get failed(): Error | null {
    return this.failure;
  }

  status() {
    return {
      id: this.id,
      role: this.core.role,
      leader: this.core.lead,
      term: this.core.term,
      commit: this.core.log.committed,
      applied: this.core.log.applied,
      lastIndex: this.core.log.lastIndex(),
      snapshotIndex: this.core.log.snapshot.index,
      snapshots: { ...this.snapshots.status(), deferred: this.snapshotPolicy.deferrals, scale: Math.round(this.snapshotPolicy.scale * 1000) / 1000 },
      voters: this.core.config.voters,
      queued: this.proposals.queued,
      pending: this.proposals.inFlight,
      timings: this.timings.summary(),
    };
  }

  /**
   * Proposes one command; resolves with the state machine's result once applied here. Commands
   * proposed in the same event-loop turn share one Raft entry.
   */
  propose(command: Uint8Array): Promise<unknown> {
    return promiseOf((settle) => {
      if (this.core.role !== 'leader') settle(this.notLeader());
      else this.proposals.enqueueWith(command, settle);
    });
  }

  /**
   * A command for the leader to put first in each batch of proposals it writes (or null): the clock
   * updater's setTime, so the commands behind it count from the time they were proposed.
   */
  setProposalLead(lead: ProposalLead | null): void {
    this.proposalLead = lead;
    if (this.proposals) this.proposals.lead = lead;
  }

  private proposalLead: ProposalLead | null = null;

  /** What one entry may carry: a proposer writing whole entries (`proposeEntryAt`) keeps within it. */
  get entryLimits(): { maxCommands: number; maxBytes: number } {
    return { maxCommands: this.opts.maxCommandsPerEntry, maxBytes: this.opts.maxBytesPerEntry };
  }

  /**
   * Proposes a command batch of `count` commands written by the caller (machines/raft/command-batch.ts
   * layout) as one entry; command k is answered through `at(k, …)` (facade leader: no buffer per command).
   */
  proposeEntryAt(entry: Uint8Array, count: number, at: ProposalSettleAt): void {
    if (this.core.role !== 'leader') {
      const err = this.notLeader();
      for (let k = 0; k < count; k++) at(k, err);
    } else this.proposals.enqueueEntryAt(entry, count, at);
  }

  changeMembership(change: { add?: NodeId; remove?: NodeId }): Promise<void> {
    return new Promise((resolve, reject) => {
      this.actor.send({
        type: 'CHANGE_MEMBERSHIP',
        ...change,
        respond: (err, r) => {
          if (err) return reject(this.mapError(err));
          this.proposals.track(r!.index, r!.term, resolve, reject);
        },
      });
    });
  }

  transferLeadership(to: NodeId): Promise<void> {
    return new Promise((resolve, reject) => {
      this.actor.send({ type: 'TRANSFER_LEADERSHIP', to, respond: (err) => (err ? reject(this.mapError(err)) : resolve()) });
    });
  }

  /** Starts an election at once (operator action and tests). */
  campaign(): void {
    this.actor.send({ type: 'CAMPAIGN' });
  }

  /**
   * Linearizable read barrier: resolves once this node has applied everything committed before the
   * call (ReadIndex, asking the leader when this node is a follower).
   */
  readBarrier(deadlineMs = this.opts.rpcTimeoutMs * 2): Promise<number> {
    return this.reads.barrier(deadlineMs);
  }

  waitApplied(index: number): Promise<void> {
    return this.reads.waitApplied(index);
  }

  /** The state machine's clock as of now, if it has one (`StateMachine.timeNow`): leaders' replies to other nodes carry it. */
  timeNow(): number | undefined {
    return this.reads.timeNow();
  }

  /** The leader's clock from a reply, for the state machine (`StateMachine.heardTime`). */
  heardTime(now: unknown): void {
    this.reads.heardTime(now);
  }

  // ---- internals ---------------------------------------------------------------------------

  private async onProposeRpc(data: unknown): Promise<{ results: unknown[]; now?: number }> {
    const cmds = (data as { commands?: unknown }).commands;
    if (!Array.isArray(cmds) || !cmds.every((c) => c instanceof Uint8Array)) {
      throw new TenureError('Invalid', 'commands: expected an array of binary commands', { field: 'commands' });
    }
    // Proposed in one turn: they share a Raft entry.
    return this.reads.withTime({ results: await Promise.all((cmds as Uint8Array[]).map((c) => this.propose(c))) });
  }

  /** Appends coalesced command entries through the machine (leader only). */
  private appendCommands(datas: Uint8Array[]): { index: number; term: number } {
    if (this.stopped) throw new TenureError('NotLeader', 'node stopped', { leader: null });
    let result: { index: number; term: number } | undefined;
    let failure: Error | null = null;
    this.chart.dispatch({ type: 'PROPOSE', datas, respond: (err, r) => (err ? (failure = this.mapError(err)) : (result = r)) });
    if (failure) throw failure;
    if (!result) throw this.notLeader();
    this.timings.appended(result.index, datas.length);
    return result;
  }

  private async onMessage(msg: RaftMessage): Promise<RaftMessage[]> {
    if (this.stopped) throw new TenureError('Internal', 'node stopped');
    if (msg.type === 'snapshot' && !this.receiver.has(msg.meta)) {
      // The chunks went to an earlier incarnation (or were refused): don't let the core accept it.
      return [{ type: 'snapshotResp', from: this.id, to: msg.from, term: this.core.term, success: false, index: 0 }];
    }
    let replies: RaftMessage[] = [];
    let failure: Error | null = null;
    // Taken before stepping: the first write that starts after this point includes the step's changes.
    const gen = this.writes.mark();
    this.chart.dispatch({
      type: 'MESSAGE',
      msg,
      respond: (err, r) => {
        if (err) failure = err;
        else replies = r!;
      },
    });
    if (failure) {
      this.fail(failure);
      throw new TenureError('Internal', 'raft node failed');
    }
    if (replies.length === 0) return replies;
    const durable = this.writes.durable(gen);
    const arrived = msg.type === 'append' ? performance.now() : 0;
    this.kick();
    await durable;
    if (arrived) this.timings.record('appendReply', performance.now() - arrived);
    return replies;
  }

  private afterTransition(): void {
    const c = this.core;
    const l = this.lastLeadership;
    if (c.role !== l.role || c.lead !== l.leader || c.term !== l.term) {
      const wasLeader = l.role === 'leader';
      this.lastLeadership = { role: c.role, leader: c.lead, term: c.term };
      this.timings.reset();
      this.leadership.put(this.lastLeadership);
      if (wasLeader && c.role !== 'leader') this.onLostLeadership();
      this.reads.leadershipChanged();
    }
    this.kick();
  }

  private onLostLeadership(): void {
    // Entries may still commit under the next leader: callers retry with their idempotency key.
    const err = new TenureError('NotLeader', 'leadership lost before the command was applied; outcome unknown, retry with the same client id and sequence', { leader: this.core.lead });
    this.proposals.failAll(err, false);
  }

  private kick(): void {
    if (this.stopped) return;
    if (this.readyRunning) {
      this.readyAgain = true;
      // A leader replicates new entries at once instead of after its own disk write in flight.
      if (this.persisting) for (const m of this.core.takeLeaderMessages()) this.sendMessage(m);
      return;
    }
    if (!this.core.hasReady() && !this.writes.awaited && !this.hasToApply()) return;
    this.readyRunning = true;
    this.readyLoop()
      .catch((err) => this.fail(err as Error))
      .finally(() => {
        this.readyRunning = false;
      });
  }

  private hasToApply(): boolean {
    const log = this.core.log;
    return Math.min(log.committed, log.persisted) > log.applied;
  }

  private async readyLoop(): Promise<void> {
    // Never run inside the actor's own notification: events sent from there would be deferred.
    await Promise.resolve();
    do {
      this.readyAgain = false;
      if (this.writes.full) {
        await this.blockedOn(this.writes.idle());
        continue;
      }
      const gen = this.writes.current;
      const rd = this.core.takeReady();
      // A leader may replicate before its own write is durable (its own vote only counts once it
      // is); anything else (votes, responses) waits for the disk.
      const early = rd.messages.length && this.core.role === 'leader' && (rd.hardState === undefined || rd.hardState.term === this.core.term);
      if (early) for (const m of rd.messages) this.sendMessage(m);
      // A snapshot replaces the log: every write before it finishes first, none overlaps it.
      const restore = rd.restore;
      if (restore) await this.blockedOn(this.writes.idle().then(() => this.restore(restore)));
      // Issued now, finished in order: the next batch need not wait for this one's fsync.
      const write = rd.write || rd.hardState ? this.opts.storage.write({ hardState: rd.hardState ?? this.core.hardState(), entries: rd.write?.entries, truncateFrom: rd.write?.truncateFrom }) : null;
      const follows = rd.messages.length || rd.snapshotsToSend.length || rd.readStates.length || rd.failedReads.length;
      const issued = write ? performance.now() : 0;
      if (write || follows || this.writes.awaited) this.writes.add(write, gen, () => this.afterDurable(rd, !!early, issued));
      // Entries already durable and committed need not wait for this write (it may only carry the
      // new commit index), but LMDB starts a write only after this turn: apply after that, while
      // the disk works. After a crash applied entries are re-applied from the log.
      if (write && this.hasToApply()) await new Promise((r) => setImmediate(r));
      await this.applyCommitted();
    } while (!this.stopped && (this.readyAgain || this.core.hasReady() || this.hasToApply() || this.writes.awaited));
  }

  /** Waits with the Ready loop blocked on the disk: meanwhile a leader's new appends leave at once (kick). */
  private async blockedOn(disk: Promise<void>): Promise<void> {
    this.persisting = true;
    try {
      await disk;
    } finally {
      this.persisting = false;
    }
  }

  /** What follows a durable write (and every write before it), in the order the writes were issued. */
  private afterDurable(rd: Ready, early: boolean, issued: number): void {
    if (this.stopped) return;
    if (issued) this.timings.record('write', performance.now() - issued);
    if (rd.write && rd.write.entries.length) {
      const last = rd.write.entries[rd.write.entries.length - 1];
      if (this.core.role === 'leader') this.timings.ownDurable(last.index);
      this.chart.dispatch({ type: 'PERSISTED', index: last.index, term: last.term });
    }
    if (!early) for (const m of rd.messages) this.sendMessage(m);
    for (const to of rd.snapshotsToSend) this.sendSnapshot(to);
    for (const r of rd.readStates) this.reads.waiters.readConfirmed(r.ctx, r.index);
    for (const ctx of rd.failedReads) this.reads.waiters.readFailed(ctx, this.notLeader());
  }

  private async restore(meta: SnapshotMeta): Promise<void> {
    const chunks = this.receiver.take(meta);
    if (!chunks) throw new Error(`snapshot ${meta.index} accepted but its data was not received`);
    await this.opts.storage.saveSnapshot(meta, chunks, { discardLog: true });
    await this.opts.stateMachine.restore(iterate(chunks));
    this.reads.waiters.appliedTo(this.core.log.applied);
  }

  private async applyCommitted(): Promise<void> {
    for (;;) {
      const entries = this.core.log.nextToApply(512);
      if (entries.length === 0) break;
      for (const e of entries) {
        let results: unknown[] = [];
        if (e.type === EntryType.Command) results = this.opts.stateMachine.apply(e.index, decodeCommandBatch(asBuffer(e.data))); // Buffer views: no view per command
        this.timings.applied(e.index);
        this.proposals.applied(e.index, e.term, results, () => new TenureError('NotLeader', 'entry was replaced by a new leader; retry with the same client id and sequence', { leader: this.core.lead }));
      }
      this.chart.dispatch({ type: 'APPLIED', index: entries[entries.length - 1].index });
      this.reads.waiters.appliedTo(this.core.log.applied);
      this.maybeSnapshot();
      if (entries.length === 512) await new Promise((r) => setImmediate(r)); // stay responsive during catch-up
    }
  }

  /**
   * Snapshot the state at the applied index and compact the log, off the Ready loop's path, when
   * this node's jittered bounds say so and it is not too busy (actors/snapshot-policy.ts).
   */
  private maybeSnapshot(): void {
    const log = this.core.log;
    if (this.snapshots.busy || log.applied <= log.snapshot.index) return;
    if (this.snapshotPolicy.decide(log.applied - log.snapshot.index, log.bytes, log.snapshot.size) !== 'take') return;
    this.snapshotPolicy.taken();
    this.snapshots.take(log);
  }

  private sendMessage(m: RaftMessage): void {
    this.opts.bus
      .request<RaftMessage[]>(this.subj.raft(m.to, 'msg'), m, { deadlineMs: this.opts.rpcTimeoutMs })
      .then((replies) => {
        if (this.stopped) return;
        for (const r of replies) {
          if (r.type === 'appendResp' && r.success) this.timings.acked(r.index);
          this.chart.dispatch({ type: 'MESSAGE', msg: r, respond: () => {} });
        }
      })
      .catch(() => {
        if (!this.stopped && (m.type === 'append' || m.type === 'heartbeat')) this.actor.send({ type: 'UNREACHABLE', to: m.to });
      });
  }

  private sendSnapshot(to: NodeId): void {
    this.snapshotSender.send(to, this.core.term, (result) => {
      if (this.stopped) return;
      for (const r of result.replies) this.chart.dispatch({ type: 'MESSAGE', msg: r, respond: () => {} });
      this.actor.send({ type: 'SNAPSHOT_SENT', to, ok: result.ok, index: result.index });
    });
  }

  private notLeader(): TenureError {
    return notLeaderError(this.core.lead, this.id);
  }

  private mapError(err: Error): Error {
    if (err instanceof RaftError) {
      if (err.reason === 'Busy') return new TenureError('Overloaded', err.message, { retryAfterMs: 100 });
      return this.notLeader();
    }
    return err;
  }

  private fail(err: Error): void {
    if (this.failure) return;
    this.failure = err;
    this.opts.logger.fatal({ err }, 'raft node failed');
    this.resolveDied(err);
    void this.stop();
  }

  private resolveDied!: (err: Error) => void;
  /** Resolves if the node fails (storage error, invariant broken): the process should exit and be restarted. */
  readonly died = new Promise<Error>((resolve) => (this.resolveDied = resolve));
}

async function* iterate(chunks: Uint8Array[]): AsyncIterable<Uint8Array> {
  for (const c of chunks) yield c;
}
