/**
 * An in-memory, deterministic simulated network implementing the Bus interface, for tests.
 *
 * - Every delivery is a `clock.setTimeout` on the injected SimClock with a delay drawn from the
 *   seeded Rng (so random delays reorder messages); the same seed and the same calls give the
 *   same delivery order, which `trace` records.
 * - Faults, changeable at any time: `setFaults({ dropRate, duplicateRate, minDelayMs, maxDelayMs })`
 *   for every message (requests, replies and publishes alike); `partition(groups)`, `isolate(name)`,
 *   `block(a, b)` cut links between named endpoints; `heal()` restores them all. Reachability is
 *   checked when a message is sent and again when it arrives (a cut link loses what is in flight).
 * - Payloads are encoded with the real codec on send and decoded on arrival, so handlers never
 *   share objects with callers, and size limits / bad payloads behave exactly as on NATS.
 * - `NoResponders` (on the next tick) when no subscription matches the subject at send time. A
 *   subscriber that exists but cannot be reached is, by default, a silent loss (the request times
 *   out), which is the harder case; `unreachable: 'no-responders'` instead models a NATS cluster
 *   whose routes dropped the remote interest.
 * - Queue groups: one member per group (picked with the Rng); plain subscriptions all get a copy.
 * - The deadline a handler sees is the arrival time plus the caller's remaining budget at send
 *   time, the same rule NatsBus applies to the `Tenure-Deadline-Ms` header — on the receiving
 *   endpoint's own clock when it has one (`endpoint(name, clock)`: a process with a skewed clock).
 * - A closed endpoint's subscriptions are gone; anything addressed to it is dropped; its pending
 *   requests reject with `Cancelled`. A new endpoint may then take the same name (a restart).
 */
import type { Clock, SimClock } from '../clock/clock.ts';
import { Rng } from '../clock/clock.ts';
import { invalid, TenureError, type ErrorCode } from '../errors/errors.ts';
import { silentLogger, type Logger } from '../log/logger.ts';
import { decode, decodeError, encode, JSON_CONTENT_TYPE } from './codec.ts';
import { runHandler, type RawReply } from './serve-core.ts';
import { subjectMatches, validateSubject } from './subjects.ts';
import {
  DEFAULT_MAX_PAYLOAD_BYTES,
  type Bus,
  type MessageHandler,
  type RequestHandler,
  type RequestOptions,
  type ServeOptions,
  type Subscription,
} from './types.ts';

export interface SimFaults {
  /** Probability that a message is lost (0..1). */
  dropRate: number;
  /** Probability that a message is delivered twice (0..1), each copy with its own delay. */
  duplicateRate: number;
  /** Delivery delay bounds in ms (inclusive); drawn uniformly per message. */
  minDelayMs: number;
  maxDelayMs: number;
}

export type MessageType = 'request' | 'reply' | 'publish';
export type DropReason = 'random' | 'partition' | 'closed' | 'unsubscribed';

export interface SimTraceEvent {
  /** Order of the event in this network's history. */
  seq: number;
  /** Clock time of the event. */
  at: number;
  kind: 'deliver' | 'drop' | 'duplicate' | 'no-responders';
  type: MessageType;
  /** Message id (a duplicate keeps its original's id). */
  msg: number;
  from: string;
  /** Receiving endpoint ('' for no-responders). */
  to: string;
  subject: string;
  reason?: DropReason;
}

export interface SimNetworkOptions extends Partial<SimFaults> {
  seed: number;
  clock: SimClock;
  /** `true`: record every event in `network.trace`; a function: call it with every event instead. */
  trace?: boolean | ((event: SimTraceEvent) => void);
  /** What a request to an existing but unreachable subscriber gets (default 'timeout'). */
  unreachable?: 'timeout' | 'no-responders';
  logger?: Logger;
}

export interface SimNetworkStats {
  sent: number;
  delivered: number;
  dropped: number;
  duplicated: number;
  noResponders: number;
}

export const DEFAULT_SIM_FAULTS: Readonly<SimFaults> = Object.freeze({
  dropRate: 0,
  duplicateRate: 0,
  minDelayMs: 1,
  maxDelayMs: 5,
});

/** @internal */
export interface Envelope {
  id: number;
  type: MessageType;
  subject: string;
  bytes: Uint8Array;
  json: boolean;
  from: SimEndpoint;
  /** Requests: the caller's remaining budget (ms) at send time. */
  budgetMs?: number;
  lane?: string;
  /** Requests: where the reply goes. */
  replyTo?: { endpoint: SimEndpoint; token: number };
  /** Replies: set for error replies. */
  errorCode?: ErrorCode;
}

/** @internal */
export interface SimSub {
  endpoint: SimEndpoint;
  pattern: string;
  queue?: string;
  active: boolean;
  /** serve() subscriptions answer requests; subscribe() ones only receive data. */
  serve?: { handler: RequestHandler; maxPayloadBytes: number; admit?: ServeOptions['admit'] };
  message?: MessageHandler;
}

export class SimNetwork {
  readonly clock: SimClock;
  /** Every event, in order, when constructed with `trace: true`. */
  readonly trace: SimTraceEvent[] = [];
  private readonly rng: Rng;
  private faults: SimFaults;
  private readonly traceFn?: (event: SimTraceEvent) => void;
  private readonly recordTrace: boolean;
  private readonly unreachableMode: 'timeout' | 'no-responders';
  readonly log: Logger;
  private readonly endpoints = new Map<string, SimEndpoint>();
  private subs: SimSub[] = [];
  private groups?: Map<string, number>;
  private readonly isolated = new Set<string>();
  private readonly blocked = new Set<string>();
  private nextMsg = 0;
  private traceSeq = 0;
  private readonly counters: SimNetworkStats = { sent: 0, delivered: 0, dropped: 0, duplicated: 0, noResponders: 0 };

  constructor(opts: SimNetworkOptions) {
    this.clock = opts.clock;
    this.rng = new Rng(opts.seed);
    this.faults = checkFaults({
      dropRate: opts.dropRate ?? DEFAULT_SIM_FAULTS.dropRate,
      duplicateRate: opts.duplicateRate ?? DEFAULT_SIM_FAULTS.duplicateRate,
      minDelayMs: opts.minDelayMs ?? DEFAULT_SIM_FAULTS.minDelayMs,
      maxDelayMs: opts.maxDelayMs ?? DEFAULT_SIM_FAULTS.maxDelayMs,
    });
    this.recordTrace = opts.trace === true;
    this.traceFn = typeof opts.trace === 'function' ? opts.trace : undefined;
    this.unreachableMode = opts.unreachable ?? 'timeout';
    this.log = opts.logger ?? silentLogger;
  }

  /**
   * A new endpoint (one per simulated process). Names are unique among open endpoints. `clock` is
   * the process's own (a skewed one): its request timeouts run on it and its handlers' deadlines
   * count on it, as NatsBus counts them on the receiving machine's clock. Default: the network's.
   */
  endpoint(name: string, clock?: Clock): SimEndpoint {
    if (typeof name !== 'string' || name === '') throw new Error('endpoint name must be a non-empty string');
    if (this.endpoints.has(name)) throw new Error(`endpoint ${JSON.stringify(name)} already exists (close it first)`);
    const ep = new SimEndpoint(this, name, clock);
    this.endpoints.set(name, ep);
    return ep;
  }

  /** The open endpoint with this name, if any. */
  get(name: string): SimEndpoint | undefined {
    return this.endpoints.get(name);
  }

  /** Closes the named endpoint at once (a crashed process). */
  crash(name: string): void {
    this.endpoints.get(name)?.closeNow('endpoint crashed');
  }

  setFaults(faults: Partial<SimFaults>): void {
    this.faults = checkFaults({ ...this.faults, ...faults });
  }

  getFaults(): Readonly<SimFaults> {
    return { ...this.faults };
  }

  /**
   * Endpoints in different groups cannot reach each other. Endpoints named in no group are not
   * affected (they reach everyone, handy for test clients). Replaces any previous partition.
   */
  partition(groups: string[][]): void {
    const map = new Map<string, number>();
    groups.forEach((group, i) => {
      for (const name of group) {
        if (map.has(name)) throw new Error(`partition: ${JSON.stringify(name)} is in more than one group`);
        map.set(name, i);
      }
    });
    this.groups = map;
  }

  /** Cuts `name` off from every other endpoint (until `heal()`). */
  isolate(name: string): void {
    this.isolated.add(name);
  }

  /** Cuts the link between `a` and `b` (both directions, or only a → b with `oneWay`). */
  block(a: string, b: string, opts: { oneWay?: boolean } = {}): void {
    this.blocked.add(linkKey(a, b));
    if (!opts.oneWay) this.blocked.add(linkKey(b, a));
  }

  unblock(a: string, b: string): void {
    this.blocked.delete(linkKey(a, b));
    this.blocked.delete(linkKey(b, a));
  }

  /** Removes every partition, isolation and blocked link (faults set by `setFaults` stay). */
  heal(): void {
    this.groups = undefined;
    this.isolated.clear();
    this.blocked.clear();
  }

  /** Whether a message from `a` can currently reach `b`. An endpoint always reaches itself. */
  canReach(a: string, b: string): boolean {
    if (a === b) return true;
    if (this.isolated.has(a) || this.isolated.has(b)) return false;
    if (this.blocked.has(linkKey(a, b))) return false;
    if (this.groups) {
      const ga = this.groups.get(a);
      const gb = this.groups.get(b);
      if (ga !== undefined && gb !== undefined && ga !== gb) return false;
    }
    return true;
  }

  stats(): Readonly<SimNetworkStats> {
    return { ...this.counters };
  }

  // ---- used by SimEndpoint ----

  /** @internal */
  newMessageId(): number {
    return this.nextMsg++;
  }

  /** @internal */
  addSub(sub: SimSub): void {
    this.subs.push(sub);
  }

  /** @internal */
  removeSub(sub: SimSub): void {
    sub.active = false;
    this.subs = this.subs.filter((s) => s !== sub);
  }

  /** @internal */
  forget(ep: SimEndpoint): void {
    if (this.endpoints.get(ep.name) === ep) this.endpoints.delete(ep.name);
    this.subs = this.subs.filter((s) => {
      if (s.endpoint !== ep) return true;
      s.active = false;
      return false;
    });
  }

  /** @internal Routes a request or publish to its subscribers. Returns false if nobody matched. */
  route(env: Envelope): boolean {
    const from = env.from.name;
    let candidates = this.subs.filter((s) => s.active && subjectMatches(s.pattern, env.subject));
    if (this.unreachableMode === 'no-responders') {
      candidates = candidates.filter((s) => this.canReach(from, s.endpoint.name));
    }
    if (candidates.length === 0) {
      if (env.type === 'request') {
        this.counters.noResponders++;
        this.emit({ kind: 'no-responders', type: env.type, msg: env.id, from, to: '', subject: env.subject });
      }
      return false;
    }
    const targets: SimSub[] = [];
    const queues = new Map<string, SimSub[]>();
    for (const s of candidates) {
      if (s.queue === undefined) targets.push(s);
      else {
        const members = queues.get(s.queue);
        if (members) members.push(s);
        else queues.set(s.queue, [s]);
      }
    }
    for (const members of queues.values()) targets.push(members.length === 1 ? members[0] : this.rng.pick(members));
    for (const sub of targets) {
      this.transmit(
        env,
        sub.endpoint,
        () => (sub.active ? undefined : 'unsubscribed'),
        () => sub.endpoint.receive(sub, env),
      );
    }
    return true;
  }

  /** @internal Sends a reply back to the requesting endpoint. */
  reply(env: Envelope): void {
    const target = env.replyTo!.endpoint;
    this.transmit(env, target, () => undefined, () => target.receiveReply(env));
  }

  private transmit(env: Envelope, to: SimEndpoint, check: () => DropReason | undefined, arrive: () => void): void {
    const from = env.from.name;
    const base = { type: env.type, msg: env.id, from, to: to.name, subject: env.subject };
    this.counters.sent++;
    if (!this.canReach(from, to.name)) {
      this.drop(base, 'partition');
      return;
    }
    const f = this.faults;
    if (f.dropRate > 0 && this.rng.chance(f.dropRate)) {
      this.drop(base, 'random');
      return;
    }
    const copies = f.duplicateRate > 0 && this.rng.chance(f.duplicateRate) ? 2 : 1;
    for (let i = 0; i < copies; i++) {
      const delay = f.minDelayMs === f.maxDelayMs ? f.minDelayMs : this.rng.int(f.minDelayMs, f.maxDelayMs);
      const duplicate = i > 0;
      this.clock.setTimeout(() => {
        if (to.closed) return this.drop(base, 'closed');
        if (!this.canReach(from, to.name)) return this.drop(base, 'partition');
        const why = check();
        if (why) return this.drop(base, why);
        this.counters.delivered++;
        this.emit({ ...base, kind: duplicate ? 'duplicate' : 'deliver' });
        arrive();
      }, delay);
    }
    if (copies > 1) this.counters.duplicated++;
  }

  private drop(base: Omit<SimTraceEvent, 'seq' | 'at' | 'kind'>, reason: DropReason): void {
    this.counters.dropped++;
    this.emit({ ...base, kind: 'drop', reason });
  }

  private emit(e: Omit<SimTraceEvent, 'seq' | 'at'>): void {
    if (!this.recordTrace && !this.traceFn) return;
    const event: SimTraceEvent = { seq: this.traceSeq++, at: this.clock.now(), ...e };
    if (this.traceFn) this.traceFn(event);
    else this.trace.push(event);
  }
}

export { SimEndpoint, type SimEndpointStats } from './sim-endpoint.ts';
import { SimEndpoint } from './sim-endpoint.ts';

function linkKey(a: string, b: string): string {
  return `${a}\u0000${b}`;
}

function checkFaults(f: SimFaults): SimFaults {
  const rate = (name: string, v: number) => {
    if (!(v >= 0 && v <= 1)) throw new Error(`${name} must be between 0 and 1, got ${v}`);
  };
  rate('dropRate', f.dropRate);
  rate('duplicateRate', f.duplicateRate);
  if (!Number.isInteger(f.minDelayMs) || f.minDelayMs < 0) throw new Error(`minDelayMs must be a whole number ≥ 0, got ${f.minDelayMs}`);
  if (!Number.isInteger(f.maxDelayMs) || f.maxDelayMs < f.minDelayMs) {
    throw new Error(`maxDelayMs must be a whole number ≥ minDelayMs (${f.minDelayMs}), got ${f.maxDelayMs}`);
  }
  return f;
}

