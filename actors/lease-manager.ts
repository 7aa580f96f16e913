/**
 * The lease manager: one per node, serving `tenure.v1.<cluster>.lease.<op>` for clients in ONE
 * queue group (`tenure-lease`) shared by every node, so any node can answer any request. It is a
 * single wildcard subscription (`….lease.*`, dispatched by op) so an unknown op gets `Invalid`
 * rather than silence; on NATS it is also the `tenure` micro service's endpoint.
 *
 * Per request: validate (actors/lease-requests.ts), send writes through the forwarder with the
 * retry policy, bounded and shed by this node's load (actors/lease-writes.ts), answer reads from
 * the local FSM (or after a ReadIndex barrier when asked for `linearizable`), and park `wait`
 * callers (actors/waiters.ts) until the FSM releases their key.
 *
 * XState models only the lifecycle (idle → starting → serving → stopping → stopped); per-request
 * work is plain functions, never an actor per request. Admission here is a cap on writes in flight
 * from this node with lanes shed before it (`Overloaded`); the leader's queue admits again.
 */
import { randomBytes } from 'node:crypto';
import { createActor, fromPromise, setup, type Actor } from 'xstate';
import type { NatsConnection } from '@nats-io/transport-node';
import type { Service } from '@nats-io/services';
import type { Bus, IncomingRequest, RequestHandler, Subscription } from '../bus/types.ts';
import { DEFAULT_MAX_PAYLOAD_BYTES } from '../bus/types.ts';
import { isLeaseOp, LEASE_OPS, subjects, type LeaseOp as ApiOp, type Subjects } from '../bus/subjects.ts';
import { systemClock, type Clock } from '../clock/clock.ts';
import { invalid, TenureError } from '../errors/errors.ts';
import type { LeaseCommand } from '../lease/types.ts';
import { silentLogger, type Logger } from '../log/logger.ts';
import type { Forwarder } from './forwarder.ts';
import type { LeaseStateMachine } from './lease-state-machine.ts';
import {
  leaseView,
  parseBatch,
  parseGet,
  parseList,
  parseWait,
  parseWrite,
  type BatchOp,
  type BatchReply,
  type ListReply,
  type WaitReply,
  type WriteOp,
} from './lease-requests.ts';
import { startMicroService } from './micro-service.ts';
import { LeaseWrites } from './lease-writes.ts';
import { Waiters } from './waiters.ts';
import { inspectable } from './inspection.ts';

export const LEASE_QUEUE = 'tenure-lease';

/** What the manager reads from the local Raft node (RaftNode satisfies it). */
export interface ManagedRaft {
  readonly id: string;
  readonly role: string;
  readonly leader: string | null;
  /** The voters this node knows (named in batch replies that ask for them). */
  readonly voters?: readonly string[];
  readonly term: number;
  readonly appliedIndex: number;
  readonly commitIndex: number;
  /** Resolves once this node has applied everything committed before the call; rejects with DeadlineExceeded after `deadlineMs`. */
  readBarrier(deadlineMs?: number): Promise<number>;
}

export { LAG_SHED_CLAIMS_MS, LAG_SHED_REVOKES_MS } from './lease-writes.ts';

export interface LeaseManagerOptions {
  /** Event-loop lag signal for shedding (production nodes pass one; tests on simulated time don't). */
  loadMonitor?: { lagMs: number };
  cluster: string;
  bus: Bus;
  raft: ManagedRaft;
  stateMachine: LeaseStateMachine;
  forwarder: Forwarder;
  clock?: Clock;
  logger?: Logger;
  /** Register the `tenure` NATS micro service on this connection (and serve through it); omit on the sim bus. */
  nats?: NatsConnection;
  /** Largest request accepted (default 64 KiB); larger ones get Invalid (field `payload`). */
  maxPayloadBytes?: number;
  /** Most concurrent `wait`s on this node (default 10,000); beyond it, `Overloaded`. */
  maxWaiters?: number;
  /** Most writes in flight from this node (default 10,000); beyond it, `Overloaded`. */
  maxInFlight?: number;
  /** Budget of a write whose caller named none (default 5000 ms). */
  defaultDeadlineMs?: number;
  /** Budget of a wait whose caller named none (default 30,000 ms). */
  defaultWaitMs?: number;
  /** Extra fields for `status` replies (clock lag, event publisher counters, …). */
  extraStatus?: () => Record<string, unknown>;
  /** Service version shown by `nats micro info`. */
  version?: string;
}

interface Hooks {
  open: () => Promise<void>;
  close: () => Promise<void>;
}

const lifecycle = setup({
  types: { context: {} as Hooks, input: {} as Hooks, events: {} as { type: 'START' } | { type: 'STOP' } },
  actors: {
    opening: fromPromise<void, Hooks>(({ input }) => input.open()),
    closing: fromPromise<void, Hooks>(({ input }) => input.close()),
  },
}).createMachine({
  id: 'leaseManager',
  context: ({ input }) => input,
  initial: 'idle',
  states: {
    idle: { on: { START: 'starting', STOP: 'stopped' } },
    starting: {
      invoke: { src: 'opening', input: ({ context }) => context, onDone: 'serving', onError: 'failed' },
    },
    serving: { on: { STOP: 'stopping' } },
    stopping: {
      invoke: { src: 'closing', input: ({ context }) => context, onDone: 'stopped', onError: 'stopped' },
    },
    failed: { on: { STOP: 'stopped' } },
    stopped: { type: 'final' },
  },
});

export class LeaseManager {
  readonly waiters: Waiters;
  readonly counters = {
    requests: 0,
    errors: 0,
    retries: 0,
    shed: 0,
    byOp: Object.fromEntries(LEASE_OPS.map((op) => [op, 0])) as Record<ApiOp, number>,
  };
  private readonly subj: Subjects;
  private readonly nodeBatchSubject: string;
  private readonly clock: Clock;
  private readonly log: Logger;
  private readonly actor: Actor<typeof lifecycle>;
  private readonly bootId = randomBytes(4).toString('hex');
  private anonCount = 0;
  private readonly writes: LeaseWrites;
  private readonly active = new Set<Promise<unknown>>();
  private subs: Subscription[] = [];
  private service: Service | null = null;
  private readonly unhook: (() => void)[] = [];
  private openError: unknown;
  private starting?: Promise<void>;

  constructor(private readonly opts: LeaseManagerOptions) {
    this.subj = subjects(opts.cluster);
    this.nodeBatchSubject = this.subj.nodeLease(opts.raft.id, 'batch');
    this.clock = opts.clock ?? systemClock;
    this.log = opts.logger ?? silentLogger;
    this.waiters = new Waiters({ max: opts.maxWaiters, clock: this.clock });
    this.writes = new LeaseWrites({
      forwarder: opts.forwarder,
      stateMachine: opts.stateMachine,
      clock: this.clock,
      loadMonitor: opts.loadMonitor,
      maxInFlight: opts.maxInFlight,
      counters: this.counters,
    });
    this.actor = inspectable(
      createActor(lifecycle, {
        clock: this.clock,
        input: { open: () => this.open(), close: () => this.close() },
      }),
    );
  }

  get state(): string {
    return String(this.actor.getSnapshot().value);
  }

  /** Starts serving; resolves once the subscriptions (or the micro service) are in place. */
  start(): Promise<void> {
    this.starting ??= this.startOnce();
    return this.starting;
  }

  private async startOnce(): Promise<void> {
    this.actor.start();
    await new Promise<void>((resolve, reject) => {
      const sub = this.actor.subscribe((s) => {
        if (s.matches('serving')) resolve();
        else if (s.matches('failed')) reject(this.openError instanceof Error ? this.openError : new Error(String(this.openError)));
        else return;
        queueMicrotask(() => sub.unsubscribe());
      });
      this.actor.send({ type: 'START' });
    });
  }

  /** Stops taking requests (the queue group routes to other nodes), ends waiters, lets in-flight work finish (≤ 2 s). */
  async stop(): Promise<void> {
    if (this.starting) await this.starting.catch(() => {});
    if (this.actor.getSnapshot().status === 'done') return;
    if (this.actor.getSnapshot().status !== 'active') this.actor.start();
    this.actor.send({ type: 'STOP' });
    await new Promise<void>((resolve) => {
      if (this.actor.getSnapshot().status === 'done') return resolve();
      this.actor.subscribe({ complete: () => resolve() });
    });
  }

  // ---- lifecycle hooks (run by the machine) ----

  private async open(): Promise<void> {
    const { stateMachine } = this.opts;
    this.unhook.push(
      stateMachine.onApplied((index, events) => {
        for (const e of events) if (e.kind === 'revoked' || e.kind === 'expired') this.waiters.released(e.key, e.kind, index);
      }),
    );
    // A restored snapshot changes state without events: re-check every parked key.
    stateMachine.onRestored(() => this.waiters.recheck((key) => this.opts.stateMachine.fsm.get(key) === null));
    // One wildcard subscription for every op: an unknown op gets Invalid instead of NoResponders,
    // and per-op subscriptions plus a catch-all would see each request twice.
    const admit = (subject: string, lane?: string) => this.admit(subject, lane);
    const endpoints = [{ name: 'lease', subject: this.subj.leaseAll, handler: this.handler(), admit }];
    const maxPayloadBytes = this.opts.maxPayloadBytes ?? DEFAULT_MAX_PAYLOAD_BYTES;
    try {
      if (this.opts.nats) {
        this.service = await startMicroService(
          {
            nc: this.opts.nats,
            name: 'tenure',
            version: this.opts.version ?? '0.1.0',
            description: `Tenure lease service, cluster ${this.opts.cluster}`,
            queue: LEASE_QUEUE,
            maxPayloadBytes,
            metadata: { cluster: this.opts.cluster, node: this.opts.raft.id },
            logger: this.log,
            stats: () => ({ ...this.counters, byOp: { ...this.counters.byOp }, waiters: this.waiters.size, inFlight: this.writes.inFlight }),
          },
          endpoints,
        );
      } else {
        for (const ep of endpoints) this.subs.push(this.opts.bus.serve(ep.subject, ep.handler, { queue: LEASE_QUEUE, maxPayloadBytes, admit }));
      }
      // Requests addressed to this node (client/routes.ts): clients send batches straight to the
      // leader they were told of (each batch reply names the leader), saving a follower's decode and
      // forwarding hop, and, once they know the voters, everything else to a voter they pick — so
      // that a node that does not answer can be named and passed over, which the queue group cannot.
      this.subs.push(this.opts.bus.serve(this.subj.nodeLeaseAll(this.opts.raft.id), endpoints[0].handler, { maxPayloadBytes, admit }));
    } catch (err) {
      this.openError = err;
      throw err;
    }
  }

  private async close(): Promise<void> {
    for (const s of this.subs) s.unsubscribe();
    this.subs = [];
    await this.service?.stop().catch(() => {});
    this.service = null;
    this.waiters.cancelAll(new TenureError('Cancelled', 'node stopping'));
    for (const u of this.unhook) u();
    if (this.active.size) {
      let timer: unknown;
      await Promise.race([
        Promise.allSettled([...this.active]),
        new Promise((r) => (timer = this.clock.setTimeout(() => r(undefined), 2000))),
      ]);
      this.clock.clearTimeout(timer);
    }
  }

  // ---- requests ----

  /**
   * Lane-aware shedding from the subject alone, before the payload is decoded: with this node's
   * writes in flight at a quarter of the bound claims are refused, at half revokes and pins, at the
   * bound extends — the same order as the leader's admission lanes, at a fraction of the cost.
   */
  private admit(subject: string, lane?: string): TenureError | null {
    const op = subject.slice(subject.lastIndexOf('.') + 1);
    if (op !== 'batch') return this.writes.shedding(op);
    // A batch the client marked as claims only (`Tenure-Lane: claim`) is shed unread like one
    // claim: refusing a herd of claims costs one reply, not a decode per op. Any other batch is
    // judged op by op once decoded; before that only the hard bound applies to it — also when it
    // was sent straight to this node: a follower would only forward its ops here (where they are
    // validated again), so sending it round adds work and a hop, not protection (measured, bulk:
    // 12–14k → 19–21k extends/s). A refused direct batch says so (`direct`, with its lane), and the
    // client then sends batches of that kind through the queue group for a second.
    const details = subject === this.nodeBatchSubject ? { direct: true } : {};
    return this.writes.shedding(lane === 'claim' ? 'claim' : 'extend', details);
  }

  private handler(): RequestHandler {
    return (req) => {
      this.counters.requests++;
      const op = req.subject.slice(req.subject.lastIndexOf('.') + 1);
      if (!isLeaseOp(op)) {
        this.counters.errors++;
        throw invalid('op', `unknown lease operation ${JSON.stringify(op)} (expected one of ${LEASE_OPS.join(', ')})`);
      }
      this.counters.byOp[op]++;
      if (!this.actor.getSnapshot().matches('serving')) {
        this.counters.errors++;
        throw new TenureError('Overloaded', 'node is not serving (starting or stopping)', { retryAfterMs: 50 });
      }
      const work = this.dispatch(op, req);
      if (!(work instanceof Promise)) return work;
      this.active.add(work);
      work.then(
        () => this.active.delete(work),
        () => {
          this.counters.errors++;
          this.active.delete(work);
        },
      );
      return work;
    };
  }

  private dispatch(op: ApiOp, req: IncomingRequest): unknown {
    switch (op) {
      case 'claim':
      case 'extend':
      case 'revoke':
      case 'pin':
      case 'unpin':
        return this.write(op, req);
      case 'batch':
        return this.batch(req);
      case 'get':
        return this.get(req);
      case 'list':
        return this.list(req);
      case 'wait':
        return this.wait(req);
      case 'status':
        return this.status();
    }
  }

  // write and batch are not async functions: an async frame would keep `req` (and its decoded
  // payload) alive until the reply, while only the parsed commands are needed.
  private write(op: WriteOp, req: IncomingRequest): Promise<unknown> {
    let cmd: LeaseCommand;
    let deadline: number;
    let firstCopy: boolean | undefined;
    try {
      const parsed = parseWrite(op, req.data, () => this.freshClient());
      cmd = parsed.cmd;
      firstCopy = parsed.firstCopy;
      deadline = this.deadlineOf(req, parsed.deadlineMs, this.opts.defaultDeadlineMs ?? 5000);
    } catch (err) {
      return Promise.reject(err);
    }
    return this.writes.submit(op, cmd, deadline, firstCopy);
  }

  /**
   * `lease.batch`: every op is validated, shed and submitted exactly as if it had come alone (its
   * own clientId/seq, its own retry policy), and answered in order in one reply: `{ results:
   * [{ result } | { error }] }`. Not a transaction: ops are independent and may share Raft entries.
   */
  private batch(req: IncomingRequest): Promise<BatchReply> {
    let ops: BatchOp[];
    let envelope: number;
    let members: boolean;
    try {
      const parsed = parseBatch(req.data, () => this.freshClient());
      ops = parsed.ops;
      members = parsed.members;
      envelope = this.deadlineOf(req, parsed.deadlineMs, this.opts.defaultDeadlineMs ?? 5000);
    } catch (err) {
      return Promise.reject(err);
    }
    // `members: true`: the reply also names the voters, so that a client can address another node
    // when the one it sent to did not answer (client/coalescer.ts).
    return this.writes.batch(ops, envelope).then((results) =>
      members ? { results, leader: this.opts.raft.leader, nodes: [...(this.opts.raft.voters ?? [this.opts.raft.id])] } : { results, leader: this.opts.raft.leader },
    );
  }

  private async get(req: IncomingRequest): Promise<unknown> {
    const { key, linearizable } = parseGet(req.data);
    if (linearizable) await this.barrier(req);
    const fsm = this.opts.stateMachine.fsm; // read after the barrier: a restore may have replaced it
    return leaseView(key, fsm.get(key), fsm.pinsOf(key), this.opts.stateMachine.timeNow());
  }

  private async list(req: IncomingRequest): Promise<ListReply> {
    const { filter, linearizable, limit } = parseList(req.data);
    if (linearizable) await this.barrier(req);
    const fsm = this.opts.stateMachine.fsm;
    const all = fsm.list(filter);
    const now = this.opts.stateMachine.timeNow();
    const leases = all.slice(0, limit).map((info) => leaseView(info.key, info, info.pinnedBy, now));
    return { time: fsm.time(), leases, truncated: all.length > limit };
  }

  private async wait(req: IncomingRequest): Promise<WaitReply> {
    const { key, deadlineMs } = parseWait(req.data);
    // Fixed on arrival: the barrier's time comes out of the wait's budget, not on top of it (it
    // used to be taken after the barrier, so under a herd of waits — barriers ≈ 1 s — answers came
    // past the caller's own timer and a third of 10,000 waits ended in Timeout, unanswered).
    const deadline = this.deadlineOf(req, deadlineMs, this.opts.defaultWaitMs ?? 30_000);
    // A ReadIndex barrier first, so a wait sent after a successful claim sees that claim even on
    // a follower that has not applied it yet (otherwise it would answer a stale "free").
    await this.barrier(req, deadline);
    if (this.opts.stateMachine.fsm.get(key) === null) return { free: true, reason: 'free' };
    const outcome = await this.waiters.add(key, deadline);
    return outcome.index === undefined ? { free: true, reason: outcome.reason } : { free: true, reason: outcome.reason, index: outcome.index };
  }

  status(): Record<string, unknown> {
    const raft = this.opts.raft;
    const fsm = this.opts.stateMachine.fsm;
    return {
      node: raft.id,
      cluster: this.opts.cluster,
      role: raft.role,
      leader: raft.leader,
      // The voters, so that a client that has sent no batch (TenureClient's reads and waits, a JSON
      // program) can learn where to send requests by name (client/routes.ts).
      nodes: [...(raft.voters ?? [raft.id])],
      term: raft.term,
      appliedIndex: raft.appliedIndex,
      commitIndex: raft.commitIndex,
      time: fsm.time(),
      leases: fsm.stats().leases,
      waiters: this.waiters.size,
      inFlight: this.writes.inFlight,
      ...this.opts.extraStatus?.(),
    };
  }

  /** A ReadIndex barrier within the request's deadline (and `until`, if earlier). */
  private async barrier(req: IncomingRequest, until = Infinity): Promise<void> {
    const remaining = Math.min(until, this.deadlineOf(req, undefined, this.opts.defaultDeadlineMs ?? 5000)) - this.clock.now();
    if (!(remaining > 0)) throw new TenureError('DeadlineExceeded', 'deadline passed before the read');
    await this.opts.raft.readBarrier(remaining); // ends by `remaining` (DeadlineExceeded), whatever it waits on
  }

  /**
   * The earliest of the caller's header deadline, the body's `deadlineMs` and the default. The
   * header deadline is pulled in by a small margin so our answer (e.g. DeadlineExceeded) reaches
   * the caller before its own timer fires.
   */
  private deadlineOf(req: IncomingRequest, bodyMs: number | undefined, defaultMs: number): number {
    const now = this.clock.now();
    let d = now + (bodyMs ?? defaultMs);
    if (Number.isFinite(req.deadline)) {
      const left = req.deadline - now;
      d = Math.min(d, req.deadline - Math.min(50, Math.max(0, left) * 0.1));
    }
    return d;
  }

  /** A one-off idempotency identity for a request that named none (a human with `nats req`). */
  private freshClient(): { clientId: string; seq: number } {
    return { clientId: `anon:${this.opts.raft.id}:${this.bootId}:${(++this.anonCount).toString(36)}`, seq: 1 };
  }
}
