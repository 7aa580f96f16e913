/**
 * The legacy pubsub forwarding path, kept faithful to Juju 2.9 (core/raftlease PubsubClient and
 * worker/raft/raftforwarder) so the benchmark can show its failure modes. Do not "fix" it.
 *
 * Client (`LegacyForwarder`): listens on its callback subject, publishes
 * `{ command, callback, requestId }` on `….hub.lease.request`, then waits twice, each with its own
 * timer as Juju did: up to `deliveryTimeoutMs` (5 s) for delivery — here a bus flush, i.e. the
 * message reached the server; like Juju's local hub, "delivered" says nothing about whether
 * anybody listens — then up to `responseTimeoutMs` (5 s) for the result. The caller's deadline is
 * ignored (Juju's client had fixed timeouts); an abort signal is honoured. Nobody subscribed
 * (no leader, or not reachable) means silent loss: the caller learns nothing until `Timeout`.
 *
 * Leader (`LegacyForwarderLeader`, the raftforwarder worker): subscribes to the hub only while
 * leader (Juju ran it under the raft leader flag). Received requests go to an UNBOUNDED backlog
 * (juju/pubsub's per-subscriber pending list) — no admission, no deadlines, no cancellation: a
 * request is applied even if its caller gave up long ago, which is how a timed-out claim can
 * still happen. Each command is its own Raft entry, as Juju's `Raft.Apply(cmd, 5s)` per request:
 * Juju 2.9 applied in a goroutine per request and hashicorp/raft group-committed up to 64 logs
 * (MaxAppendEntries) per disk write; `maxConcurrentApplies` (default 64) stands in for that.
 * Results are published on the request's callback subject. An apply that fails (leadership lost)
 * killed Juju's worker without answering: here too nothing is published; the caller times out.
 * Losing leadership drops the backlog silently (the worker and its subscription went away).
 */
import { withTime } from './raft-reads.ts';
import type { Bus, Subscription } from '../bus/types.ts';
import { subjects, type Subjects } from '../bus/subjects.ts';
import { systemClock, type Clock } from '../clock/clock.ts';
import { TenureError, toTenureError } from '../errors/errors.ts';
import { silentLogger, type Logger } from '../log/logger.ts';
import type { LeaseCommand, LeaseResult } from '../lease/types.ts';
import { validateCommand } from '../lease/validate.ts';
import {
  parseHubRequest,
  parseHubResponse,
  type HubRequest,
  type HubResponse,
  type RaftProposer,
} from '../machines/forwarder/wire.ts';
import { encodeLeaseCommand } from './lease-state-machine.ts';
import type { Leadership } from './raft-node.ts';
import type { Forwarder, ForwardOptions } from './forwarder.ts';

export const LEGACY_DELIVERY_TIMEOUT_MS = 5000;
export const LEGACY_RESPONSE_TIMEOUT_MS = 5000;

export interface LegacyForwarderLeaderOptions {
  bus: Bus;
  cluster: string;
  raft: RaftProposer;
  logger?: Logger;
  /** Commands being applied at once, each its own Raft entry (default 64, see above). */
  maxConcurrentApplies?: number;
}

export class LegacyForwarderLeader {
  readonly counters = { received: 0, applied: 0, applyFailures: 0, malformed: 0, droppedOnStepDown: 0, peakBacklog: 0 };
  private readonly subj: Subjects;
  private readonly callbackPrefix: string;
  private readonly maxApplies: number;
  private backlog: HubRequest[] = [];
  private head = 0;
  private applying = 0;
  private pumping = false;
  private sub: Subscription | null = null;
  private stopped = false;

  constructor(private readonly opts: LegacyForwarderLeaderOptions) {
    this.subj = subjects(opts.cluster);
    this.callbackPrefix = `${this.subj.prefix}.hub.lease.callback.`;
    this.maxApplies = opts.maxConcurrentApplies ?? 64;
  }

  start(): void {
    if (this.opts.raft.role === 'leader') this.subscribe();
  }

  async stop(): Promise<void> {
    this.stopped = true;
    this.unsubscribe();
  }

  onLeadership(l: Leadership): void {
    if (this.stopped) return;
    if (l.role === 'leader') this.subscribe();
    else this.unsubscribe();
  }

  /** Requests received and not yet handed to Raft (grows without bound under overload). */
  get backlogDepth(): number {
    return this.backlog.length - this.head;
  }

  get listening(): boolean {
    return this.sub !== null;
  }

  private subscribe(): void {
    if (this.sub) return;
    this.sub = this.opts.bus.subscribe(this.subj.hub, (data) => this.onRequest(data));
  }

  private unsubscribe(): void {
    if (!this.sub) return;
    this.sub.unsubscribe();
    this.sub = null;
    if (this.backlogDepth) (this.opts.logger ?? silentLogger).debug({ dropped: this.backlogDepth }, 'hub backlog dropped on losing leadership');
    this.counters.droppedOnStepDown += this.backlogDepth;
    this.backlog = [];
    this.head = 0;
  }

  private onRequest(data: unknown): void {
    const req = parseHubRequest(data);
    // Only ever answer on this cluster's callback subjects, whatever the message says.
    if (!req || !req.callback.startsWith(this.callbackPrefix)) {
      this.counters.malformed++;
      return;
    }
    this.counters.received++;
    this.backlog.push(req);
    if (this.backlogDepth > this.counters.peakBacklog) this.counters.peakBacklog = this.backlogDepth;
    void this.pump();
  }

  private async pump(): Promise<void> {
    if (this.pumping) return;
    this.pumping = true;
    try {
      while (this.sub && this.applying < this.maxApplies && this.head < this.backlog.length) {
        const req = this.backlog[this.head];
        this.backlog[this.head++] = undefined as unknown as HubRequest;
        if (this.head > 1024 && this.head * 2 > this.backlog.length) {
          this.backlog = this.backlog.slice(this.head);
          this.head = 0;
        }
        this.apply(req);
        // RaftNode puts everything proposed in one microtask into one entry; yield so this
        // command gets an entry of its own, as each Juju Raft.Apply did.
        await Promise.resolve();
      }
    } finally {
      this.pumping = false;
    }
  }

  private apply(req: HubRequest): void {
    let cmd: LeaseCommand;
    try {
      cmd = validateCommand(req.command);
    } catch (err) {
      this.answer(req, { requestId: req.requestId, error: toTenureError(err).toWire() });
      return;
    }
    this.applying++;
    this.opts.raft
      .propose(encodeLeaseCommand(cmd))
      .then(
        (result) => {
          this.counters.applied++;
          this.answer(req, withTime({ requestId: req.requestId, result: result as LeaseResult }, this.opts.raft.timeNow?.()));
        },
        () => {
          this.counters.applyFailures++; // Juju: catacomb.Kill, no response; the caller times out
        },
      )
      .finally(() => {
        this.applying--;
        void this.pump();
      });
  }

  private answer(req: HubRequest, response: HubResponse): void {
    try {
      this.opts.bus.publish(req.callback, response);
    } catch {
      // A closed bus or bad subject: the caller times out, as it would have in Juju.
    }
  }
}

export interface LegacyForwarderOptions {
  bus: Bus;
  cluster: string;
  nodeId: string;
  clock?: Clock;
  /** Wait for delivery (default 5000 ms, Juju's ForwardTimeout). */
  deliveryTimeoutMs?: number;
  /** Then wait for the response (default 5000 ms; the timer starts again, as in Juju). */
  responseTimeoutMs?: number;
  /** Takes in the leader's global time carried by its responses (RaftNode.heardTime). */
  heardTime?: (now: unknown) => void;
}

export class LegacyForwarder implements Forwarder {
  readonly counters = { published: 0, answered: 0, deliveryTimeouts: 0, responseTimeouts: 0, cancelled: 0, lateResponses: 0 };
  private readonly subj: Subjects;
  private readonly clock: Clock;
  private readonly callback: string;
  private readonly pending = new Map<string, { respond: (r: HubResponse) => void; cancel: (err: TenureError) => void }>();
  private sub: Subscription | null = null;
  private seq = 0;
  private closed = false;

  constructor(private readonly opts: LegacyForwarderOptions) {
    this.subj = subjects(opts.cluster);
    this.clock = opts.clock ?? systemClock;
    this.callback = this.subj.hubCallback(opts.nodeId);
  }

  start(): void {
    this.sub ??= this.opts.bus.subscribe(this.callback, (data) => this.onResponse(data));
  }

  /** Requests waiting for delivery or a response. */
  get waiting(): number {
    return this.pending.size;
  }

  submit(cmd: LeaseCommand, { signal }: ForwardOptions): Promise<LeaseResult> {
    if (this.closed) return Promise.reject(new TenureError('Cancelled', 'legacy forwarder closed'));
    if (signal?.aborted) return Promise.reject(new TenureError('Cancelled', 'cancelled before publishing'));
    this.start();
    const requestId = `${this.opts.nodeId}-${++this.seq}`;
    const { deliveryTimeoutMs = LEGACY_DELIVERY_TIMEOUT_MS, responseTimeoutMs = LEGACY_RESPONSE_TIMEOUT_MS } = this.opts;
    const clock = this.clock;
    return new Promise<LeaseResult>((resolve, reject) => {
      let done = false;
      let delivered = false;
      let early: HubResponse | undefined;
      let timer: unknown;
      const finish = (err: TenureError | null, result?: LeaseResult) => {
        if (done) return;
        done = true;
        if (timer !== undefined) clock.clearTimeout(timer);
        this.pending.delete(requestId);
        signal?.removeEventListener('abort', onAbort);
        if (err) reject(err);
        else resolve(result!);
      };
      const fromResponse = (r: HubResponse) => {
        this.counters.answered++;
        if ('error' in r) finish(TenureError.fromWire(r.error));
        else finish(null, r.result);
      };
      const onAbort = () => {
        this.counters.cancelled++;
        finish(new TenureError('Cancelled', 'cancelled while waiting for the leader; the command may still be applied'));
      };
      this.pending.set(requestId, { respond: (r) => (delivered ? fromResponse(r) : (early = r)), cancel: (err) => finish(err) });
      signal?.addEventListener('abort', onAbort, { once: true });
      try {
        this.opts.bus.publish(this.subj.hub, { command: cmd, callback: this.callback, requestId });
        this.counters.published++;
      } catch (err) {
        finish(toTenureError(err));
        return;
      }
      timer = clock.setTimeout(() => {
        this.counters.deliveryTimeouts++;
        finish(new TenureError('Timeout', `delivery of ${cmd.op} timed out after ${deliveryTimeoutMs} ms`));
      }, deliveryTimeoutMs);
      this.opts.bus.flush().then(
        () => {
          if (done) return;
          delivered = true;
          clock.clearTimeout(timer);
          if (early) return fromResponse(early);
          timer = clock.setTimeout(() => {
            this.counters.responseTimeouts++;
            finish(new TenureError('Timeout', `no response to ${cmd.op} within ${responseTimeoutMs} ms; it may still be applied`));
          }, responseTimeoutMs);
        },
        (err) => finish(toTenureError(err)),
      );
    });
  }

  async close(): Promise<void> {
    this.closed = true;
    this.sub?.unsubscribe();
    this.sub = null;
    const err = new TenureError('Cancelled', 'legacy forwarder closed; the command may still be applied');
    for (const p of [...this.pending.values()]) p.cancel(err);
  }

  private onResponse(data: unknown): void {
    const r = parseHubResponse(data);
    if (!r) return;
    const waiter = this.pending.get(r.requestId);
    // A result nobody waits for: the command was applied after its caller gave up.
    if (!waiter) this.counters.lateResponses++;
    else {
      if ('result' in r) this.opts.heardTime?.(r.now);
      waiter.respond(r);
    }
  }
}
