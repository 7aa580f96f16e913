/**
 * The swappable forwarder: one `Forwarder` for the lease manager that delegates to the facade
 * or the legacy pubsub transport, switchable at runtime without a restart. A command uses the
 * transport that was current when it was submitted and finishes there (its result or a typed
 * error); commands submitted after a switch use the new one. Both transports' leader sides run
 * all the time (`ForwardingStack`), so a switch takes effect at once on every node that hears it.
 *
 * Control: every node serves `….control.transport` (no queue group: a publish reaches every
 * node; a request gets the first node's reply) and `….control.<node>.transport` (one node,
 * confirmed). Payload `{ transport: 'facade' | 'legacy-pubsub' }` switches; `{}` asks.
 * Reply `{ node, transport, previous, inFlightOnPrevious }`.
 */
import type { Bus, Subscription } from '../bus/types.ts';
import { subjects } from '../bus/subjects.ts';
import { systemClock, type Clock } from '../clock/clock.ts';
import type { Logger } from '../log/logger.ts';
import { invalid, TenureError } from '../errors/errors.ts';
import { TRANSPORTS, type Transport } from '../config/config.ts';
import type { LeaseCommand, LeaseResult } from '../lease/types.ts';
import { LeaderTracker } from '../machines/forwarder/leader-tracker.ts';
import type { RaftProposer } from '../machines/forwarder/wire.ts';
import { FacadeForwarder } from './facade-forwarder.ts';
import { FacadeLeader, type FacadeLeaderOptions } from './facade-leader.ts';
import type { ClaimReads } from './held-claims.ts';
import { LegacyForwarder, LegacyForwarderLeader } from './legacy-forwarder.ts';
import type { Leadership } from './raft-node.ts';
import { submitManyVia, submitVia, type Forwarder, type ForwardOptions, type SubmitSettle, type SubmitSettleAt } from './forwarder.ts';
import { promiseOf } from './settle.ts';

export interface TransportSwitchResult {
  transport: Transport;
  previous: Transport;
  /** Commands still running on the previous transport; they finish there. */
  inFlightOnPrevious: number;
}

export class TransportSwitch implements Forwarder {
  readonly counters = { switches: 0 };
  private current: Transport;
  private readonly inFlight: Record<Transport, number> = { facade: 0, 'legacy-pubsub': 0 };
  private closed = false;

  constructor(
    private readonly transports: Record<Transport, Forwarder>,
    initial: Transport,
  ) {
    this.current = initial;
  }

  get transport(): Transport {
    return this.current;
  }

  inFlightOn(transport: Transport): number {
    return this.inFlight[transport];
  }

  switchTo(transport: Transport): TransportSwitchResult {
    if (!(TRANSPORTS as readonly string[]).includes(transport)) {
      throw invalid('transport', `expected one of ${TRANSPORTS.join(', ')}`);
    }
    const previous = this.current;
    if (transport !== previous) this.counters.switches++;
    this.current = transport;
    return { transport, previous, inFlightOnPrevious: this.inFlight[previous] };
  }

  submit(cmd: LeaseCommand, opts: ForwardOptions): Promise<LeaseResult> {
    return promiseOf((settle) => this.submitWith(cmd, opts, settle));
  }

  submitWith(cmd: LeaseCommand, opts: ForwardOptions, settle: SubmitSettle): void {
    if (this.closed) return settle(new TenureError('Cancelled', 'forwarder closed'));
    const transport = this.current;
    this.inFlight[transport]++;
    submitVia(this.transports[transport], cmd, opts, (err, result) => {
      this.inFlight[transport]--;
      settle(err, result);
    });
  }

  submitMany(cmds: readonly LeaseCommand[], opts: readonly ForwardOptions[], at: SubmitSettleAt): void {
    if (this.closed) {
      for (let i = 0; i < cmds.length; i++) at(i, new TenureError('Cancelled', 'forwarder closed'));
      return;
    }
    const transport = this.current;
    this.inFlight[transport] += cmds.length;
    submitManyVia(this.transports[transport], cmds, opts, (i, err, result) => {
      this.inFlight[transport]--;
      at(i, err, result);
    });
  }

  async close(): Promise<void> {
    this.closed = true;
    await Promise.all(Object.values(this.transports).map((t) => t.close()));
  }
}

/** Serves the transport control subjects for one node (see the file comment). */
export function serveTransportControl(bus: Bus, cluster: string, nodeId: string, sw: TransportSwitch): Subscription {
  const s = subjects(cluster);
  const handler = (req: { data: unknown }) => {
    const wanted = (req.data as { transport?: unknown } | null)?.transport;
    if (wanted === undefined) return { node: nodeId, transport: sw.transport, previous: sw.transport, inFlightOnPrevious: 0 };
    if (typeof wanted !== 'string' || !(TRANSPORTS as readonly string[]).includes(wanted)) {
      throw invalid('transport', `expected one of ${TRANSPORTS.join(', ')}`);
    }
    return { node: nodeId, ...sw.switchTo(wanted as Transport) };
  };
  const subs = [bus.serve(s.control('transport'), handler), bus.serve(s.control('transport', nodeId), handler)];
  return { unsubscribe: () => subs.forEach((sub) => sub.unsubscribe()) };
}

export interface ForwardingStackOptions {
  bus: Bus;
  cluster: string;
  /** This node's Raft node (RaftNode satisfies RaftProposer). */
  raft: RaftProposer;
  clock?: Clock;
  logger?: Logger;
  /** Transport at start (default 'facade'; Config.transport). */
  transport?: Transport;
  facadeLeader?: Omit<FacadeLeaderOptions, 'bus' | 'cluster' | 'raft' | 'clock' | 'logger'>;
  /** Reply margin of the facade client (default 20 ms). */
  replyMarginMs?: number;
  /** Legacy path settings (defaults: Juju's 5 s + 5 s, 64 concurrent applies). */
  legacy?: { deliveryTimeoutMs?: number; responseTimeoutMs?: number; maxConcurrentApplies?: number };
  /** Requests in flight to the leader, and callers allowed to wait for a slot. */
  tracker?: { maxInFlight?: number; maxWaiting?: number };
  /** Serve the transport control subjects (default true). */
  serveControl?: boolean;
  /** Reads for the facade leader's claims answered without the log (TenureNode's ForwardingContext has them). */
  claimReads?: ClaimReads;
}

/**
 * Everything a node needs to forward lease commands: both leader sides, both clients, the leader
 * tracker and the switch. The node calls `start()`, feeds `onLeadership` from its Raft node's
 * leadership mailbox, hands `forwarder` to its lease manager, and calls `close()` on shutdown.
 */
export class ForwardingStack {
  readonly tracker: LeaderTracker;
  readonly facadeLeader: FacadeLeader;
  readonly legacyLeader: LegacyForwarderLeader;
  readonly facade: FacadeForwarder;
  readonly legacy: LegacyForwarder;
  readonly forwarder: TransportSwitch;
  private control: Subscription | null = null;

  constructor(private readonly opts: ForwardingStackOptions) {
    const { bus, cluster, raft, logger } = opts;
    const clock = opts.clock ?? systemClock;
    this.tracker = new LeaderTracker({ discover: () => raft.leader, clock, ...opts.tracker });
    this.facadeLeader = new FacadeLeader({ claimReads: opts.claimReads, ...opts.facadeLeader, bus, cluster, raft, clock, logger: logger?.child({ actor: 'facade' }) });
    this.legacyLeader = new LegacyForwarderLeader({
      bus,
      cluster,
      raft,
      logger: logger?.child({ actor: 'legacy-forwarder' }),
      maxConcurrentApplies: opts.legacy?.maxConcurrentApplies,
    });
    this.facade = new FacadeForwarder({ bus, cluster, nodeId: raft.id, tracker: this.tracker, clock, local: this.facadeLeader, replyMarginMs: opts.replyMarginMs, heardTime: (now) => raft.heardTime?.(now) });
    this.legacy = new LegacyForwarder({
      bus,
      cluster,
      nodeId: raft.id,
      clock,
      deliveryTimeoutMs: opts.legacy?.deliveryTimeoutMs,
      responseTimeoutMs: opts.legacy?.responseTimeoutMs,
      heardTime: (now) => raft.heardTime?.(now),
    });
    this.forwarder = new TransportSwitch({ facade: this.facade, 'legacy-pubsub': this.legacy }, opts.transport ?? 'facade');
  }

  start(): void {
    this.facadeLeader.start();
    this.legacyLeader.start();
    this.legacy.start();
    if (this.opts.serveControl !== false) {
      this.control = serveTransportControl(this.opts.bus, this.opts.cluster, this.opts.raft.id, this.forwarder);
    }
  }

  /** Feed every leadership change of this node's Raft node here. Never blocks. */
  onLeadership(l: Leadership): void {
    this.tracker.observe(l.leader);
    this.facadeLeader.onLeadership(l);
    this.legacyLeader.onLeadership(l);
  }

  status() {
    return {
      transport: this.forwarder.transport,
      leader: this.tracker.peek(),
      inFlight: this.tracker.limit.inFlight,
      waiting: this.tracker.limit.queued,
      limit: { ...this.tracker.limit.counters },
      facade: { leader: this.facadeLeader.metrics(), client: { ...this.facade.counters } },
      legacy: {
        leader: { ...this.legacyLeader.counters, backlog: this.legacyLeader.backlogDepth, listening: this.legacyLeader.listening },
        client: { ...this.legacy.counters, waiting: this.legacy.waiting },
      },
    };
  }

  async close(): Promise<void> {
    this.control?.unsubscribe();
    this.control = null;
    await this.forwarder.close();
    await Promise.all([this.facadeLeader.stop(), this.legacyLeader.stop()]);
    this.tracker.stop();
  }
}
