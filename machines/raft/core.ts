import { RaftLog } from './log.ts';
import { isResponse, type AppendRequest, type AppendResponse, type HeartbeatResponse, type RaftMessage, type SnapshotInstall, type SnapshotResponse, type VoteRequest, type VoteResponse } from './messages.ts';
import { Progress, quorum } from './progress.ts';
import { EntryType, type ClusterConfig, type HardState, type LogEntry, type NodeId, type RaftCoreOptions, type Role, type SnapshotMeta } from './types.ts';
import { encodeConfig } from './config-codec.ts';
import { ReadIndexTracker, type ReadState } from './read-index.ts';
import { Outbox, RaftError, type Ready } from './ready.ts';

export type { ReadState, Ready, RaftCoreOptions, Role };
export { RaftError };

/**
 * The Raft consensus core: a deterministic step function over messages and timer events. No I/O
 * and no clock: the XState machine (machine.ts) owns the timers and the actor executes `Ready`.
 */
export class RaftCore {
  readonly id: NodeId;
  readonly log: RaftLog;
  role: Role = 'follower';
  term: number;
  vote: NodeId | null;
  lead: NodeId | null = null;
  config: ClusterConfig;
  /** Heard from a live leader within an election timeout: refuse to help disrupt it. */
  inLease = false;
  /** Bumped whenever the election timer must restart (heard from leader, granted a vote, new role). */
  electionEpoch = 0;
  progress = new Map<NodeId, Progress>();
  leadTransferee: NodeId | null = null;
  pendingConfIndex = 0;

  private votes = new Map<NodeId, boolean>();
  private reads = new ReadIndexTracker();
  private out: Outbox;
  private replies: RaftMessage[] | null = null;
  private opts: RaftCoreOptions;

  constructor(opts: RaftCoreOptions, hard: HardState, log: RaftLog) {
    this.opts = opts;
    this.id = opts.id;
    this.term = hard.term;
    this.vote = hard.vote;
    this.log = log;
    this.config = log.currentConfig().config;
    this.out = new Outbox(hard);
  }

  isVoter(id: NodeId = this.id): boolean {
    return this.config.voters.includes(id);
  }

  private peers(): NodeId[] {
    return this.config.voters.filter((v) => v !== this.id);
  }

  // ---- role changes ------------------------------------------------------------------------

  becomeFollower(term: number, lead: NodeId | null): void {
    const wasLeader = this.role === 'leader';
    if (term !== this.term) {
      this.term = term;
      this.vote = null;
    }
    this.role = 'follower';
    this.lead = lead;
    this.inLease = lead !== null;
    this.leadTransferee = null;
    this.electionEpoch++;
    if (wasLeader) this.failReads();
  }

  private becomePreCandidate(): void {
    this.role = 'preCandidate';
    this.lead = null;
    this.inLease = false;
    this.votes = new Map([[this.id, true]]);
    this.electionEpoch++;
  }

  private becomeCandidate(): void {
    this.role = 'candidate';
    this.term += 1;
    this.vote = this.id;
    this.lead = null;
    this.inLease = false;
    this.votes = new Map([[this.id, true]]);
    this.electionEpoch++;
  }

  private becomeLeader(): void {
    this.role = 'leader';
    this.lead = this.id;
    this.inLease = true;
    this.leadTransferee = null;
    this.progress.clear();
    for (const p of this.peers()) this.progress.set(p, new Progress(this.log.lastIndex() + 1));
    // Any config entry in the uncommitted tail counts as pending: one change at a time.
    this.pendingConfIndex = this.log.lastIndex();
    this.appendEntries([{ type: EntryType.Noop, data: new Uint8Array(0) }]);
    this.electionEpoch++;
  }

  // ---- timers (called by the machine) ------------------------------------------------------

  /** Election timer fired in follower / pre-candidate / candidate. */
  electionTimeout(): void {
    this.inLease = false;
    this.electionEpoch++; // restart the timer even when we do not campaign (a learner may become a voter)
    if (!this.isVoter()) return; // learners and removed nodes never campaign
    this.campaign('preVote');
  }

  /** Leader heartbeat timer. */
  heartbeat(): void {
    if (this.role !== 'leader') return;
    this.broadcastHeartbeat(this.reads.seq);
  }

  /** Leader check-quorum timer (one election timeout): step down unless a quorum was heard from. */
  checkQuorum(): void {
    if (this.role !== 'leader') return;
    let active = this.isVoter() ? 1 : 0;
    for (const [id, pr] of this.progress) {
      if (pr.recentActive && this.isVoter(id)) active++;
      pr.recentActive = false;
    }
    this.leadTransferee = null;
    if (active < quorum(this.config.voters.length)) this.becomeFollower(this.term, null);
  }

  campaign(kind: 'preVote' | 'vote', force = false): void {
    if (kind === 'preVote') this.becomePreCandidate();
    else this.becomeCandidate();
    const term = kind === 'preVote' ? this.term + 1 : this.term;
    if (this.poll(this.id, true) === 'won') return;
    for (const p of this.peers()) {
      this.send({ type: kind, from: this.id, to: p, term, lastIndex: this.log.lastIndex(), lastTerm: this.log.lastTerm(), force });
    }
  }

  private poll(from: NodeId, granted: boolean): 'won' | 'lost' | 'pending' {
    this.votes.set(from, granted);
    let yes = 0;
    let no = 0;
    for (const [id, g] of this.votes) {
      if (!this.isVoter(id)) continue;
      if (g) yes++;
      else no++;
    }
    const q = quorum(this.config.voters.length);
    if (yes >= q) {
      if (this.role === 'preCandidate') this.campaign('vote');
      else this.becomeLeader();
      return 'won';
    }
    if (no >= q) {
      this.becomeFollower(this.term, null);
      return 'lost';
    }
    return 'pending';
  }

  // ---- client operations -------------------------------------------------------------------

  /** Appends entries as leader; returns their indexes. */
  propose(datas: Uint8Array[], type: EntryType = EntryType.Command): { index: number; term: number } {
    if (this.role !== 'leader') throw new RaftError('NotLeader', 'not the leader', this.lead);
    if (this.leadTransferee) throw new RaftError('NotLeader', 'leadership transfer in progress', this.leadTransferee);
    const first = this.log.lastIndex() + 1;
    this.appendEntries(datas.map((data) => ({ type, data })));
    return { index: first, term: this.term };
  }

  /** Single-server membership change. */
  changeMembership(change: { add?: NodeId; remove?: NodeId }): { index: number; term: number } {
    if (this.role !== 'leader') throw new RaftError('NotLeader', 'not the leader', this.lead);
    if (this.pendingConfIndex > this.log.applied) throw new RaftError('Busy', 'a membership change is in progress', this.id);
    const voters = new Set(this.config.voters);
    if (change.add) voters.add(change.add);
    if (change.remove) voters.delete(change.remove);
    const next: ClusterConfig = { voters: [...voters].sort() };
    const r = this.propose([encodeConfig(next)], EntryType.Config);
    this.pendingConfIndex = r.index;
    return r;
  }

  transferLeadership(to: NodeId): void {
    if (this.role !== 'leader') throw new RaftError('NotLeader', 'not the leader', this.lead);
    if (to === this.id) return;
    const pr = this.progress.get(to);
    if (!pr || !this.isVoter(to)) throw new RaftError('Busy', `${to} is not a voter`, this.id);
    this.leadTransferee = to;
    if (pr.match === this.log.lastIndex()) this.send({ type: 'timeoutNow', from: this.id, to, term: this.term });
    else this.sendAppend(to);
  }

  /** Linearizable read: the index to wait for, released through `Ready.readStates` once confirmed. */
  readIndex(ctx: number): void {
    if (this.role !== 'leader') throw new RaftError('NotLeader', 'not the leader', this.lead);
    if (this.log.term(this.log.committed) !== this.term) {
      this.reads.defer(ctx);
      return;
    }
    if (this.config.voters.length === 1 && this.isVoter()) {
      this.out.ready.readStates.push({ ctx, index: this.log.committed });
      return;
    }
    this.reads.start(ctx, this.log.committed, this.id); // broadcast once per Ready, however many reads
  }

  // ---- storage and apply feedback ----------------------------------------------------------

  persistedTo(index: number, term: number): void {
    this.log.persistedTo(index, term);
    if (this.role === 'leader') this.maybeCommit();
  }

  appliedTo(index: number): void {
    this.log.appliedTo(index);
    // A leader that removed itself steps down once the removal is committed and applied.
    if (this.role === 'leader' && !this.isVoter() && this.log.applied >= this.log.currentConfig().index) {
      this.becomeFollower(this.term, null);
    }
  }

  /** The actor compacted the log into a snapshot it wrote. */
  compacted(meta: SnapshotMeta): void {
    this.log.compact(meta);
  }

  snapshotSent(to: NodeId, ok: boolean, index: number): void {
    const pr = this.progress.get(to);
    if (!pr || this.role !== 'leader') return;
    pr.snapshotDone(ok, index);
    this.sendAppend(to);
  }

  /** A request to `to` got no answer (timeout, no responders): resend from what is known. */
  unreachable(to: NodeId): void {
    const pr = this.progress.get(to);
    if (pr && pr.state !== 'snapshot') pr.pause();
  }

  // ---- message handling --------------------------------------------------------------------

  /**
   * Steps a message. Responses to its sender are returned (they travel as the reply and must be
   * sent only after the resulting Ready is durable); other messages go to the Ready.
   */
  step(m: RaftMessage): RaftMessage[] {
    this.replies = [];
    try {
      this.stepInner(m);
      return this.replies.filter((r) => r.to === m.from);
    } finally {
      const rest = this.replies.filter((r) => r.to !== m.from);
      this.replies = null;
      for (const r of rest) this.out.ready.messages.push(r);
    }
  }

  private stepInner(m: RaftMessage): void {
    if (m.term > this.term) {
      if (m.type === 'preVote' || m.type === 'vote') {
        // Leader stickiness: while we hear from a leader, a returning partitioned node cannot disrupt it.
        if (this.inLease && !m.force) return;
      }
      if (m.type === 'preVote' || (m.type === 'preVoteResp' && m.granted)) {
        // pre-votes never change terms
      } else {
        const lead = m.type === 'append' || m.type === 'heartbeat' || m.type === 'snapshot' ? m.from : null;
        this.becomeFollower(m.term, lead);
      }
    } else if (m.term < this.term) {
      if (m.type === 'append' || m.type === 'heartbeat' || m.type === 'snapshot') {
        // Tell a stale leader our term so it steps down.
        this.send({ type: 'appendResp', from: this.id, to: m.from, term: this.term, success: false, index: 0 });
      } else if (m.type === 'preVote' || m.type === 'vote') {
        this.send({ type: m.type === 'preVote' ? 'preVoteResp' : 'voteResp', from: this.id, to: m.from, term: this.term, granted: false });
      }
      return;
    }

    switch (m.type) {
      case 'preVote':
      case 'vote':
        return this.handleVoteRequest(m);
      case 'preVoteResp':
        if (this.role === 'preCandidate' && (m.term === this.term + 1 || !m.granted)) this.poll(m.from, m.granted);
        return;
      case 'voteResp':
        if (this.role === 'candidate' && m.term === this.term) this.poll(m.from, m.granted);
        return;
      case 'append':
        this.heardFromLeader(m.from);
        return this.handleAppend(m);
      case 'heartbeat':
        this.heardFromLeader(m.from);
        if (m.commit > this.log.committed) this.log.commitTo(Math.min(m.commit, this.log.lastIndex()));
        this.send({ type: 'heartbeatResp', from: this.id, to: m.from, term: this.term, readCtx: m.readCtx, lastIndex: this.log.lastIndex() });
        return;
      case 'snapshot':
        this.heardFromLeader(m.from);
        return this.handleSnapshot(m);
      case 'timeoutNow':
        if (this.role !== 'leader' && this.isVoter()) this.campaign('vote', true);
        return;
      case 'appendResp':
        return this.handleAppendResponse(m);
      case 'heartbeatResp':
        return this.handleHeartbeatResponse(m);
      case 'snapshotResp':
        return this.handleSnapshotResponse(m);
    }
  }

  private heardFromLeader(from: NodeId): void {
    if (this.role !== 'follower') this.becomeFollower(this.term, from);
    this.lead = from;
    this.inLease = true;
    this.electionEpoch++;
  }

  private handleVoteRequest(m: VoteRequest): void {
    const pre = m.type === 'preVote';
    const canVote = this.vote === m.from || (this.vote === null && this.lead === null) || (pre && m.term > this.term);
    const granted = canVote && this.log.isUpToDate(m.lastIndex, m.lastTerm);
    if (granted && !pre) {
      this.vote = m.from;
      this.electionEpoch++;
    }
    const resp: VoteResponse = { type: pre ? 'preVoteResp' : 'voteResp', from: this.id, to: m.from, term: granted ? m.term : this.term, granted };
    this.send(resp);
  }

  private handleAppend(m: AppendRequest): void {
    const reply = (r: Omit<AppendResponse, 'type' | 'from' | 'to' | 'term'>) =>
      this.send({ type: 'appendResp', from: this.id, to: m.from, term: this.term, ...r });
    if (m.prevIndex < this.log.committed) {
      reply({ success: true, index: this.log.committed });
      return;
    }
    const lastNew = this.log.tryAppend(m.prevIndex, m.prevTerm, m.entries);
    if (lastNew === null) {
      let hintIndex = Math.min(m.prevIndex, this.log.lastIndex());
      hintIndex = this.log.findConflictByTerm(hintIndex, m.prevTerm);
      reply({ success: false, index: m.prevIndex, hintIndex, hintTerm: this.log.term(hintIndex) ?? 0 });
      return;
    }
    this.config = this.log.currentConfig().config;
    this.log.commitTo(Math.min(m.commit, lastNew));
    reply({ success: true, index: lastNew });
  }

  private handleSnapshot(m: SnapshotInstall): void {
    const meta = m.meta;
    const reply = (index: number) => this.send({ type: 'snapshotResp', from: this.id, to: m.from, term: this.term, success: true, index });
    if (meta.index <= this.log.committed) return reply(this.log.committed);
    if (this.log.matchTerm(meta.index, meta.term)) {
      this.log.commitTo(meta.index);
      return reply(meta.index);
    }
    this.log.restore(meta);
    this.config = meta.config;
    this.out.ready.restore = meta;
    reply(meta.index);
  }

  private handleAppendResponse(m: AppendResponse): void {
    if (this.role !== 'leader') return;
    const pr = this.progress.get(m.from);
    if (!pr) return;
    pr.recentActive = true;
    pr.inflight = Math.max(0, pr.inflight - 1);
    if (m.success) {
      if (pr.maybeUpdate(m.index)) this.maybeCommit();
      if (this.leadTransferee === m.from && pr.match === this.log.lastIndex()) {
        this.send({ type: 'timeoutNow', from: this.id, to: m.from, term: this.term });
      }
    } else if (m.index > 0) {
      let next = m.hintIndex ?? m.index;
      if (m.hintTerm !== undefined && m.hintTerm > 0) next = this.log.findConflictByTerm(m.hintIndex!, m.hintTerm);
      pr.maybeDecrease(m.index, next + 1);
    }
    this.sendAppend(m.from);
  }

  private handleHeartbeatResponse(m: HeartbeatResponse): void {
    if (this.role !== 'leader') return;
    const pr = this.progress.get(m.from);
    if (!pr) return;
    pr.recentActive = true;
    pr.probeSent = false;
    if (pr.match < this.log.lastIndex()) this.sendAppend(m.from);
    for (const r of this.reads.acknowledge(m.from, m.readCtx, quorum(this.config.voters.length))) this.out.ready.readStates.push(r);
  }

  private handleSnapshotResponse(m: SnapshotResponse): void {
    const pr = this.progress.get(m.from);
    if (!pr || this.role !== 'leader') return;
    pr.recentActive = true;
  }

  // ---- leader replication ------------------------------------------------------------------

  private appendEntries(items: { type: EntryType; data: Uint8Array }[]): void {
    let index = this.log.lastIndex();
    const entries: LogEntry[] = items.map((it) => ({ index: ++index, term: this.term, type: it.type, data: it.data }));
    this.log.appendLocal(entries);
    if (entries.some((e) => e.type === EntryType.Config)) this.applyConfig(this.log.currentConfig().config);
    if (this.config.voters.length === 1 && this.isVoter()) this.maybeCommit();
    this.broadcastAppend();
  }

  /** Membership takes effect when the entry is appended (single-server changes). */
  private applyConfig(config: ClusterConfig): void {
    this.config = config;
    if (this.role !== 'leader') return;
    for (const v of config.voters) {
      if (v !== this.id && !this.progress.has(v)) this.progress.set(v, new Progress(this.log.lastIndex() + 1));
    }
    for (const id of [...this.progress.keys()]) if (!config.voters.includes(id)) this.progress.delete(id);
  }

  broadcastAppend(): void {
    for (const p of this.progress.keys()) this.sendAppend(p);
  }

  private broadcastHeartbeat(readCtx: number): void {
    for (const [p, pr] of this.progress) {
      this.send({ type: 'heartbeat', from: this.id, to: p, term: this.term, commit: Math.min(pr.match, this.log.committed), readCtx });
    }
  }

  /** Fills the pipeline to `to`: several appends in flight while replicating, one while probing. */
  sendAppend(to: NodeId): void {
    const pr = this.progress.get(to);
    if (!pr) return;
    for (;;) {
      if (!pr.canSend(this.opts.maxInflight)) return;
      const prevIndex = pr.next - 1;
      const prevTerm = this.log.term(prevIndex);
      if (prevTerm === undefined) {
        // The follower needs entries we compacted: stream a snapshot instead.
        pr.becomeSnapshot(this.log.snapshot.index);
        this.out.ready.snapshotsToSend.push(to);
        return;
      }
      const last = this.log.lastIndex();
      const entries = this.log.slice(pr.next, last + 1, this.opts.maxEntriesPerMessage, this.opts.maxBytesPerMessage);
      if (entries.length === 0 && pr.state === 'replicate') return;
      this.send({ type: 'append', from: this.id, to, term: this.term, prevIndex, prevTerm, entries, commit: this.log.committed });
      pr.sent(entries.length ? entries[entries.length - 1].index : prevIndex);
      if (pr.state === 'probe') return;
    }
  }

  private maybeCommit(): void {
    const matches: number[] = [];
    for (const v of this.config.voters) {
      if (v === this.id) matches.push(this.log.persisted);
      else matches.push(this.progress.get(v)?.match ?? 0);
    }
    if (matches.length === 0) return;
    matches.sort((a, b) => b - a);
    const candidate = matches[quorum(matches.length) - 1];
    if (candidate > this.log.committed && this.log.term(candidate) === this.term) {
      this.log.commitTo(candidate);
      for (const ctx of this.reads.takeDeferred()) this.readIndex(ctx);
    }
  }

  private failReads(): void {
    for (const ctx of this.reads.failAll()) this.out.ready.failedReads.push(ctx);
  }

  private send(m: RaftMessage): void {
    if (this.replies && isResponse(m)) this.replies.push(m);
    else this.out.ready.messages.push(m);
  }

  // ---- output ------------------------------------------------------------------------------
  hardState(): HardState {
    return { term: this.term, vote: this.vote, commit: this.log.committed };
  }

  /** Hands over everything accumulated since the last call. */
  takeReady(): Ready {
    const round = this.role === 'leader' ? this.reads.takeUnsentRound() : null;
    if (round !== null) this.broadcastHeartbeat(round);
    return this.out.take(this.hardState(), this.log.takeUnstable());
  }

  /** A leader's messages taken ahead of the Ready (its term is durable; its own entries count once persisted). */
  takeLeaderMessages = (): RaftMessage[] => (this.role === 'leader' ? this.out.takeMessages() : []);

  hasReady(): boolean {
    return this.reads.hasUnsentRound() || this.out.pending(this.hardState(), this.log.unstableFrom <= this.log.lastIndex());
  }
}
