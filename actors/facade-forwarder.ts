/**
 * The facade forwarding path's client side (Juju's raft-api-leases, done with backpressure from the
 * start); the leader side, `FacadeLeader`, is actors/facade-leader.ts.
 *
 * `FacadeForwarder` (each node's lease manager uses it): request-reply to the
 * tracked leader with the caller's remaining budget; follows a NotLeader hint once; no leader or
 * no responders is `NoLeader` at once; when this node leads, commands go straight into the local
 * queue (no bus hop, and an abort signal reaches the queue).
 */
import type { Bus } from '../bus/types.ts';
import { subjects, type Subjects } from '../bus/subjects.ts';
import { systemClock, type Clock } from '../clock/clock.ts';
import { TenureError, toTenureError } from '../errors/errors.ts';
import type { LeaseCommand, LeaseResult } from '../lease/types.ts';
import { LANES, laneOf } from '../machines/admission/lanes.ts';
import type { LeaderTracker } from '../machines/forwarder/leader-tracker.ts';
import type { Forwarder, ForwardOptions, SubmitSettle, SubmitSettleAt } from './forwarder.ts';
import { settleFrom } from './settle.ts';
import { FacadeBatcher } from './facade-batcher.ts';
import type { FacadeLeader } from './facade-leader.ts';

export interface FacadeForwarderOptions {
  bus: Bus;
  cluster: string;
  /** This node's id (for the local shortcut). */
  nodeId: string;
  tracker: LeaderTracker;
  clock?: Clock;
  /** This node's leader side: when this node leads, commands skip the bus. */
  local?: FacadeLeader;
  /** Kept back from the budget sent to the leader, so its DeadlineExceeded beats our own timeout (default 20 ms). */
  replyMarginMs?: number;
  /** Takes in the leader's global time carried by its replies (RaftNode.heardTime). */
  heardTime?: (now: unknown) => void;
}

export class FacadeForwarder implements Forwarder {
  readonly counters = { submitted: 0, local: 0, remote: 0, hintsFollowed: 0, noLeader: 0, timeouts: 0 };
  private readonly subj: Subjects;
  private readonly clock: Clock;
  private readonly batcher: FacadeBatcher;
  private closed = false;

  constructor(private readonly opts: FacadeForwarderOptions) {
    this.subj = subjects(opts.cluster);
    this.clock = opts.clock ?? systemClock;
    this.batcher = new FacadeBatcher({ bus: opts.bus, subj: this.subj, clock: this.clock, marginMs: opts.replyMarginMs ?? 20, heardTime: opts.heardTime });
  }

  /** Facade requests sent and the commands they carried (commands / requests = coalescing factor). */
  get batching(): { requests: number; commands: number } {
    return { ...this.batcher.counters };
  }

  async submit(cmd: LeaseCommand, { deadline, signal, firstCopy = false }: ForwardOptions): Promise<LeaseResult> {
    if (this.closed) throw new TenureError('Cancelled', 'facade forwarder closed');
    if (signal?.aborted) throw new TenureError('Cancelled', 'cancelled before sending');
    if (deadline <= this.clock.now()) throw new TenureError('DeadlineExceeded', 'no time left to forward the command');
    this.counters.submitted++;
    const local = this.opts.local;
    if (local?.leading) {
      // On the leader the admission queue is the bound (lanes, watermarks): the in-flight limit
      // guards the leader against its followers, not against itself.
      this.counters.local++;
      return local.submitLocal(cmd, deadline, signal, firstCopy);
    }
    const tracker = this.opts.tracker;
    const release = await tracker.limit.acquire(deadline, signal, LANES.indexOf(laneOf(cmd)));
    try {
      let view = await tracker.current();
      for (let attempt = 0; ; attempt++) {
        const target = view.leader;
        if (target === null) {
          this.counters.noLeader++;
          throw new TenureError('NoLeader', 'no leader known', { leader: null });
        }
        try {
          // A forward to a hinted leader follows one whose fate is unknown: not the only copy.
          return await this.send(target, cmd, deadline, signal, firstCopy && attempt === 0);
        } catch (err) {
          const e = toTenureError(err);
          if (e.code === 'Timeout') this.counters.timeouts++;
          if (e.code !== 'NotLeader' && e.code !== 'NoLeader' && e.code !== 'NoResponders') throw e;
          const hint = e.code === 'NotLeader' && typeof e.details.leader === 'string' ? e.details.leader : null;
          view = await tracker.failed(view.generation, hint);
          // Follow a new leader once (commands carry client id + seq, so a retry cannot apply twice).
          if (attempt === 0 && view.leader !== null && view.leader !== target && this.clock.now() < deadline) {
            this.counters.hintsFollowed++;
            continue;
          }
          if (e.code === 'NotLeader') throw e;
          this.counters.noLeader++;
          throw new TenureError('NoLeader', `no leader reachable (${e.message})`, { leader: null });
        }
      }
    } finally {
      release();
    }
  }

  /** `submit` without promises on the leader's own path (the queue checks signal and deadline); elsewhere it is `submit`. */
  submitWith(cmd: LeaseCommand, opts: ForwardOptions, settle: SubmitSettle): void {
    const local = this.opts.local;
    if (!local?.leading || this.closed) return settleFrom(this.submit(cmd, opts), settle);
    this.counters.submitted++;
    this.counters.local++;
    local.enqueue(cmd, opts.deadline, opts.signal, settle, opts.firstCopy === true);
  }

  /** On the leader, all into the local queue with one callback; elsewhere one `submitWith` each. */
  submitMany(cmds: readonly LeaseCommand[], opts: readonly ForwardOptions[], at: SubmitSettleAt): void {
    const local = this.opts.local;
    if (!local?.leading || this.closed) {
      for (let i = 0; i < cmds.length; i++) this.submitWith(cmds[i], opts[i], (err, result) => at(i, err, result));
      return;
    }
    this.counters.submitted += cmds.length;
    this.counters.local += cmds.length;
    local.enqueueMany(cmds, opts, at);
  }

  async close(): Promise<void> {
    this.closed = true;
  }

  private async send(target: string, cmd: LeaseCommand, deadline: number, signal: AbortSignal | undefined, firstCopy: boolean): Promise<LeaseResult> {
    const local = this.opts.local;
    if (local && target === this.opts.nodeId) {
      this.counters.local++;
      return local.submitLocal(cmd, deadline, signal, firstCopy);
    }
    if (deadline <= this.clock.now()) throw new TenureError('DeadlineExceeded', 'no time left to forward the command');
    this.counters.remote++;
    // Everything forwarded to this leader in this turn travels in one request (actors/facade-batcher.ts).
    return this.batcher.send(target, cmd, deadline, signal, firstCopy);
  }
}
