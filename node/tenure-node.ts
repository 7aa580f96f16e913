/**
 * One Tenure node: a Raft node over the lease FSM, plus the actors that serve it — lease manager
 * (client API), clock updater (global time, leader only), event publisher (lease-change
 * subjects) and a forwarder (commands to the leader).
 *
 *   const node = new TenureNode({ id: 'n1', cluster: 'default', voters: ['n1', 'n2', 'n3'],
 *                                 bus: await NatsBus.connect(url), storage: await LmdbStorage.open(dir) });
 *   await node.start();
 *   …
 *   await node.stop();            // then close the bus and the storage: the node owns neither
 *
 * On a NatsBus the node also registers the `tenure` NATS micro service and publishes events
 * through JetStream (when the server has it); on the simulated bus it does neither.
 * The node is the only consumer of its Raft node's leadership mailbox; other components follow
 * leadership through `node.leadership`.
 */
import type { NatsConnection } from '@nats-io/transport-node';
import { NatsBus } from '../bus/nats-bus.ts';
import type { Bus } from '../bus/types.ts';
import { systemClock, type Clock } from '../clock/clock.ts';
import { silentLogger, type Logger } from '../log/logger.ts';
import type { LeaseFsmOptions } from '../lease/fsm.ts';
import type { RaftStorage } from '../storage/types.ts';
import { ClockUpdater } from '../actors/clock-updater.ts';
import { EventPublisher, type EventMode } from '../actors/event-publisher.ts';
import { DirectForwarder, type Forwarder } from '../actors/forwarder.ts';
import { LeadershipFeed } from '../actors/leadership-feed.ts';
import { LeaseManager, type LeaseManagerOptions } from '../actors/lease-manager.ts';
import { LeaseStateMachine } from '../actors/lease-state-machine.ts';
import { RaftNode, type Leadership, type RaftNodeOptions } from '../actors/raft-node.ts';
import type { ClaimReads } from '../actors/held-claims.ts';

/** A forwarding transport as the node drives it (the lead's ForwardingStack fits this shape). */
export interface Forwarding {
  readonly forwarder: Forwarder;
  start?(): void;
  /** Called on every leadership change of this node's Raft node; must not block. */
  onLeadership?(l: Leadership): void;
  status?(): unknown;
  close(): Promise<void>;
}

export interface ForwardingContext {
  bus: Bus;
  cluster: string;
  raft: RaftNode;
  clock: Clock;
  logger: Logger;
  /** For the facade leader: claims a held lease refuses, answered after a ReadIndex without a log entry. */
  claimReads: ClaimReads;
}

type RaftTuning = Partial<Omit<RaftNodeOptions, 'id' | 'cluster' | 'voters' | 'bus' | 'storage' | 'stateMachine' | 'logger' | 'clock'>>;

export interface TenureNodeOptions {
  /** This node's id (a subject token). */
  id: string;
  /** Raft group / subject namespace (`tenure.v1.<cluster>`). */
  cluster: string;
  /** Initial voters of a brand-new cluster (ignored once storage holds a configuration). */
  voters: string[];
  /** The node's bus (NatsBus in production, a SimNetwork endpoint in tests). Not closed by stop(). */
  bus: Bus;
  /**
   * A separate bus for Raft's own traffic (default: `bus`). In production a second NATS connection,
   * so a flood of client requests cannot queue ahead of heartbeats on one socket, and a client-side
   * slow-consumer disconnect cannot cut Raft off. Not closed by stop().
   */
  raftBus?: Bus;
  /** Raft log, hard state and snapshots (LmdbStorage on disk, MemoryStorage in tests). Not closed by stop(). */
  storage: RaftStorage;
  logger?: Logger;
  /** Injected time for Raft, the clock updater and timers (default: the system clock). */
  clock?: Clock;
  /** How often the leader advances global time (default 1000 ms). */
  clockIntervalMs?: number;
  /** Stamps: global time advanced ahead of client writes once this long has passed (default 100 ms; 0 = ticks only). */
  clockStampMs?: number;
  /** Election timeout: randomised between this and twice this (default RaftNode's 300–600 ms). */
  electionTimeoutMs?: number;
  heartbeatMs?: number;
  /** Any other RaftNode setting (batching, snapshots, queue bounds). */
  raft?: RaftTuning;
  fsm?: LeaseFsmOptions;
  /**
   * NATS connection for the micro service and JetStream events. Default: the bus's own when it is
   * a NatsBus; `null` turns both off.
   */
  nats?: NatsConnection | null;
  /** Event publishing: 'auto' (default; JetStream when available), 'leader', 'off'. */
  events?: EventMode;
  /** JetStream mode: the event stream's duplicate window (default 2 min; actors/event-stream.ts). */
  eventsDedupeMs?: number;
  /** Builds the forwarding transport (default: DirectForwarder). */
  forwarding?: (ctx: ForwardingContext) => Forwarding;
  /** Lease manager limits. */
  lease?: Pick<LeaseManagerOptions, 'maxPayloadBytes' | 'maxWaiters' | 'maxInFlight' | 'defaultDeadlineMs' | 'defaultWaitMs' | 'version' | 'loadMonitor'>;
}

export class TenureNode {
  readonly id: string;
  readonly raft: RaftNode;
  readonly stateMachine: LeaseStateMachine;
  readonly leadership: LeadershipFeed;
  readonly forwarding: Forwarding;
  readonly manager: LeaseManager;
  readonly clockUpdater: ClockUpdater;
  readonly events: EventPublisher;
  private started = false;
  private stopping?: Promise<void>;

  constructor(opts: TenureNodeOptions) {
    const clock = opts.clock ?? systemClock;
    const logger = opts.logger ?? silentLogger;
    const log = (component: string) => logger.child({ component, node: opts.id });
    const nats = opts.nats === undefined ? (opts.bus instanceof NatsBus ? opts.bus.nc : undefined) : (opts.nats ?? undefined);
    this.id = opts.id;
    this.stateMachine = new LeaseStateMachine(opts.fsm, clock);
    this.raft = new RaftNode({
      ...opts.raft,
      id: opts.id,
      cluster: opts.cluster,
      voters: opts.voters,
      bus: opts.raftBus ?? opts.bus,
      storage: opts.storage,
      stateMachine: this.stateMachine,
      logger: log('raft'),
      clock,
      electionMinMs: opts.electionTimeoutMs ?? opts.raft?.electionMinMs,
      electionMaxMs: opts.electionTimeoutMs !== undefined ? opts.electionTimeoutMs * 2 : opts.raft?.electionMaxMs,
      heartbeatMs: opts.heartbeatMs ?? opts.raft?.heartbeatMs,
    });
    this.leadership = new LeadershipFeed(this.raft.leadership, (err) => logger.error({ err }, 'leadership listener failed'));
    this.forwarding = opts.forwarding
      ? opts.forwarding({
          bus: opts.bus,
          cluster: opts.cluster,
          raft: this.raft,
          clock,
          logger: log('forwarder'),
          // The FSM is looked up per read: a restored snapshot replaces it.
          claimReads: { barrier: (ms) => this.raft.readBarrier(ms), refusal: (cmd) => this.stateMachine.fsm.claimRefusal(cmd) },
        })
      : { forwarder: new DirectForwarder({ raft: this.raft, bus: opts.bus, cluster: opts.cluster, clock }), close: async () => {} };
    if (this.forwarding.onLeadership) {
      const f = this.forwarding;
      this.leadership.subscribe((l) => f.onLeadership!(l));
    }
    this.clockUpdater = new ClockUpdater({
      nodeId: opts.id,
      raft: this.raft,
      stateMachine: this.stateMachine,
      leadership: this.leadership,
      clock,
      intervalMs: opts.clockIntervalMs,
      stampMs: opts.clockStampMs,
      logger: log('clock'),
    });
    this.events = new EventPublisher({
      cluster: opts.cluster,
      bus: opts.bus,
      stateMachine: this.stateMachine,
      leadership: this.leadership,
      nats,
      mode: opts.events,
      duplicateWindowMs: opts.eventsDedupeMs,
      clock,
      logger: log('events'),
    });
    this.manager = new LeaseManager({
      ...opts.lease,
      cluster: opts.cluster,
      bus: opts.bus,
      raft: this.raft,
      stateMachine: this.stateMachine,
      forwarder: this.forwarding.forwarder,
      clock,
      logger: log('lease'),
      nats,
      extraStatus: () => this.extraStatus(),
    });
  }

  /** Loads storage, joins the Raft group and starts serving clients. */
  async start(): Promise<void> {
    if (this.started) throw new Error(`node ${this.id} already started`);
    this.started = true;
    await this.raft.start();
    this.events.skipThrough(this.raft.commitIndex);
    this.leadership.start();
    this.forwarding.start?.();
    this.events.start();
    this.clockUpdater.start();
    await this.manager.start();
  }

  /**
   * Stops in the order that loses least: stop taking requests (in-flight ones finish), stop the
   * clock, stop Raft (nothing more gets applied), publish the events already applied, then the
   * forwarders. Idempotent. The bus and storage stay open for the caller to close.
   */
  stop(): Promise<void> {
    this.stopping ??= (async () => {
      await this.manager.stop();
      this.clockUpdater.stop();
      await this.raft.stop();
      await this.events.stop();
      await this.forwarding.close();
      this.leadership.stop();
    })();
    return this.stopping;
  }

  status(): Record<string, unknown> {
    return this.manager.status();
  }

  private extraStatus(): Record<string, unknown> {
    return {
      clockLagMs: this.clockUpdater.lagMs,
      // Ticks and stamps applied (actors/clock-updater.ts), setTimes refused as OutOfSync or failed.
      clock: { ...this.clockUpdater.counters },
      events: { mode: this.events.publishMode, state: this.events.state, queued: this.events.queued, ...this.events.counters },
      // The transport's name only: its queue metrics are on `control.<node>.status`.
      transport: (this.forwarding.status?.() as { transport?: string } | undefined)?.transport ?? 'direct',
    };
  }
}
