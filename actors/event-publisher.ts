/**
 * Publishes every lease event as JSON on `tenure.v1.<cluster>.events.<ns>.<model>.<lease>`:
 *   { kind, namespace, model, lease, holder, expiry, token, index, n, entity?, pinnedBy? }
 * (`index` is the Raft index of the entry, `n` the event's position within it).
 *
 * Apply is never blocked: events are copied into a bounded queue in the FSM's apply hook and
 * published from a later event-loop turn.
 *
 * Design (mode 'jetstream', chosen automatically when JetStream answers):
 * - Only the leader publishes. nats-server 2.9's republish delivers messages stored from
 *   different connections out of order (measured: ~0.1 % inversions with three publishers),
 *   while one publisher's messages come out in the order they were stored.
 * - Every node queues every event, leader or not (bounded by `maxQueue`, oldest trimmed), so
 *   whoever becomes leader holds the recent past.
 * - Each event goes to `….events-in.<ns>.<model>.<lease>` with `Nats-Msg-Id: <index>-<n>`; the
 *   stream (actors/event-stream.ts) stores it once and republishes it to `….events.…`.
 * - A new leader first reads the stream's head (the newest stored event) and publishes only
 *   queued and later events after it. Events the previous leader published are skipped; events
 *   it applied but never published (it crashed) are published now. A deposed leader still
 *   draining at the same time is absorbed by the duplicate window.
 * Guarantee: core subscribers see each event at most once (within the duplicate window, 2 min,
 * for the overlap of two leaders; a node publishes nothing at or below the head it resumed from),
 * in Raft order except for possible reordering during that overlap, and without gaps unless
 * (a) the new leader's queue no longer holds events after the head (longer outage than
 * `maxQueue` events, or a snapshot install; counted in `gaps`), or (b) a message is lost on a
 * broken NATS connection while later ones get through.
 *
 * Fallback (mode 'leader', no JetStream): the leader publishes events of entries it applies
 * while leader, straight to `….events.…`. At failover, events the old leader applied but did not
 * publish are lost, and two nodes that both believe they lead may publish the same event twice:
 * at-most-once-ish around failovers, exactly-once otherwise.
 *
 * Bound: `maxQueue` bounds the backlog of earlier applies, not the burst of the current one (one
 * clock tick can expire tens of thousands of leases: a closed claim run of 5 s leases expires
 * ≈ 23,000 a tick; those events exist in memory anyway until published). When an apply arrives
 * with more than `maxQueue` events still waiting, the leader publishes what of that backlog lies
 * beyond the bound at once, oldest first, and the new burst goes out over later turns (≤ 5 ms of
 * publishing a turn), so the queue holds at most `maxQueue` plus one apply's events and Raft never
 * waits behind a burst. Publishing never waits (it writes into the connection's buffer), so the
 * leader always can: an event is lost only if its publish throws (connection closed), counted in
 * `publishErrors`; `dropped` counts backlog let go because publishing threw. Nothing a publish
 * throws escapes into Raft's apply or the event loop. Until the twenty-seventh session the leader
 * dropped every event beyond the bound, ≈ a quarter of all events in a claim run. On a follower,
 * trimming the oldest is normal (`trimmed`).
 */
import { createActor, fromPromise, setup, type Actor } from 'xstate';
import type { NatsConnection } from '@nats-io/transport-node';
import type { Bus } from '../bus/types.ts';
import { subjects, type Subjects } from '../bus/subjects.ts';
import { systemClock, type Clock } from '../clock/clock.ts';
import { silentLogger, type Logger } from '../log/logger.ts';
import type { LeaseEvent } from '../lease/types.ts';
import { compareIds, EventStream, ORIGIN, type EventId } from './event-stream.ts';
import type { LeadershipSource } from './leadership-feed.ts';
import type { LeaseStateMachine } from './lease-state-machine.ts';
import { inspectable } from './inspection.ts';
import { wireEvent } from './event-wire.ts';
import { EventFrames } from './event-frames.ts';
import type { NatsBus } from '../bus/nats-bus.ts';

export type EventMode = 'auto' | 'leader' | 'off';

export type { WireEvent } from './event-wire.ts';

export interface EventPublisherOptions {
  cluster: string;
  bus: Bus;
  stateMachine: LeaseStateMachine;
  leadership: LeadershipSource;
  /** The NATS connection for JetStream mode; without it the publisher runs leader-only. */
  nats?: NatsConnection;
  /** 'auto' (JetStream when available, else leader-only), 'leader' (never JetStream), 'off'. */
  mode?: EventMode;
  /** Events queued on this node (default 10,000). */
  maxQueue?: number;
  /**
   * Longest stretch of publishing per event-loop turn (default 5 ms): a burst — thousands of
   * leases expiring in one tick — goes out over several turns instead of stalling Raft for tens
   * of milliseconds.
   */
  drainSliceMs?: number;
  duplicateWindowMs?: number;
  streamMaxMsgs?: number;
  clock?: Clock;
  logger?: Logger;
}

interface Queued extends EventId {
  event: LeaseEvent;
}

interface Ctx {
  setUp: () => Promise<void>;
  resume: () => Promise<boolean>;
  isLeader: () => boolean;
  activate: () => void;
}

const publisherMachine = setup({
  types: { context: {} as Ctx, input: {} as Ctx, events: {} as { type: 'LEADER' } | { type: 'FOLLOWER' } | { type: 'STOP' } },
  actors: {
    settingUp: fromPromise<void, Ctx>(({ input }) => input.setUp()),
    resuming: fromPromise<boolean, Ctx>(({ input }) => input.resume()),
  },
  guards: { isLeader: ({ context }) => context.isLeader() },
}).createMachine({
  id: 'eventPublisher',
  context: ({ input }) => input,
  initial: 'settingUp',
  on: { STOP: '.stopped' },
  states: {
    settingUp: { invoke: { src: 'settingUp', input: ({ context }) => context, onDone: 'standby', onError: 'standby' } },
    standby: { always: { guard: 'isLeader', target: 'resuming' }, on: { LEADER: 'resuming' } },
    resuming: {
      on: { FOLLOWER: 'standby' },
      invoke: {
        src: 'resuming',
        input: ({ context }) => context,
        onDone: [{ guard: ({ event }) => event.output, target: 'active' }, { target: 'standby' }],
        onError: 'standby',
      },
    },
    active: { entry: ({ context }) => context.activate(), on: { FOLLOWER: 'standby' } },
    stopped: { type: 'final' },
  },
});

export class EventPublisher {
  readonly counters = { published: 0, skipped: 0, dropped: 0, trimmed: 0, gaps: 0, publishErrors: 0, resumes: 0 };
  private mode: 'jetstream' | 'leader' | 'off';
  private readonly subj: Subjects;
  private readonly clock: Clock;
  private readonly log: Logger;
  private readonly maxQueue: number;
  private readonly sliceMs: number;
  private stream: EventStream | null = null;
  private queue: Queued[] = [];
  private qStart = 0;
  /** Newest event known to be out; nothing at or below it is published again. */
  private head: EventId = ORIGIN;
  /** Newest event trimmed from the queue while not leading (to detect a gap at resume). */
  private trimmedThrough: EventId = ORIGIN;
  private drainScheduled = false;
  private replayedThrough = 0;
  private readonly actor: Actor<typeof publisherMachine>;
  private unsubscribe: (() => void)[] = [];
  /** Leader-only mode on a NATS bus: events leave as whole messages, a run per drain (actors/event-frames.ts). */
  private readonly frames: EventFrames | null;

  constructor(private readonly opts: EventPublisherOptions) {
    this.subj = subjects(opts.cluster);
    const target = (opts.bus as { frameTarget?: NatsBus['frameTarget'] }).frameTarget ?? null;
    this.frames = target ? new EventFrames(target.nc, target.protocol, this.subj.prefix) : null;
    this.clock = opts.clock ?? systemClock;
    this.log = opts.logger ?? silentLogger;
    this.maxQueue = opts.maxQueue ?? 10_000;
    this.sliceMs = opts.drainSliceMs ?? 5;
    const wanted = opts.mode ?? 'auto';
    this.mode = wanted === 'off' ? 'off' : wanted === 'auto' && opts.nats ? 'jetstream' : 'leader';
    this.actor = inspectable(
      createActor(publisherMachine, {
        clock: this.clock,
        input: {
          setUp: () => this.setUp(),
          resume: () => this.resume(),
          isLeader: () => this.opts.leadership.current.role === 'leader',
          activate: () => this.scheduleDrain(),
        },
      }),
    );
    // Hooked at construction so events of entries replayed at start are queued too.
    this.unsubscribe.push(opts.stateMachine.onApplied((index, events) => this.onApplied(index, events)));
  }

  get publishMode(): string {
    return this.mode;
  }

  get state(): string {
    return String(this.actor.getSnapshot().value);
  }

  get queued(): number {
    return this.queue.length - this.qStart;
  }

  start(): void {
    if (this.mode === 'off') return;
    this.actor.start();
    this.unsubscribe.push(
      this.opts.leadership.subscribe((l) => this.actor.send({ type: l.role === 'leader' ? 'LEADER' : 'FOLLOWER' })),
    );
  }

  /**
   * Leader-only mode: never publish events of entries at or below `index` (those this node
   * replays at start-up, committed before it restarted: an earlier leader published them).
   * JetStream mode needs no such rule; the stream head says what is already out.
   */
  skipThrough(index: number): void {
    this.replayedThrough = Math.max(this.replayedThrough, index);
  }

  /**
   * Publishes what is queued if this node leads (bounded by `timeoutMs`), then stops.
   * `publishQueued: false` drops the queue instead, as a crash would (tests use it).
   */
  async stop(opts: { timeoutMs?: number; publishQueued?: boolean } = {}): Promise<void> {
    const timeoutMs = opts.timeoutMs ?? 2000;
    for (const u of this.unsubscribe) u();
    this.unsubscribe = [];
    if (this.mode === 'off' || this.actor.getSnapshot().status !== 'active') return;
    const wasActive = this.actor.getSnapshot().matches('active') && opts.publishQueued !== false;
    if (wasActive) this.drain(Infinity);
    this.actor.send({ type: 'STOP' });
    this.actor.stop();
    if (!wasActive) return;
    let timer: unknown;
    await Promise.race([
      (this.stream ? this.stream.flush() : this.opts.bus.flush()).catch(() => {}),
      new Promise((r) => (timer = this.clock.setTimeout(() => r(undefined), timeoutMs))),
    ]);
    this.clock.clearTimeout(timer);
  }

  private async setUp(): Promise<void> {
    if (this.mode !== 'jetstream') return;
    const stream = new EventStream({
      nc: this.opts.nats!,
      subj: this.subj,
      duplicateWindowMs: this.opts.duplicateWindowMs,
      maxMsgs: this.opts.streamMaxMsgs,
    });
    try {
      await stream.ensure();
      this.stream = stream;
    } catch (err) {
      this.mode = 'leader';
      this.log.warn({ err: (err as Error).message }, 'JetStream unavailable: events fall back to leader-only publishing (no dedupe across failover)');
    }
  }

  /** On becoming leader. Resolves true to start publishing, false if leadership went away first. */
  private async resume(): Promise<boolean> {
    this.counters.resumes++;
    if (this.mode === 'leader') {
      // Nothing tells us what the previous leader published: start with our own entries.
      this.queue = [];
      this.qStart = 0;
      if (this.replayedThrough > this.head.index) this.head = { index: this.replayedThrough, n: Number.MAX_SAFE_INTEGER };
      return true;
    }
    for (let attempt = 0; ; attempt++) {
      if (this.opts.leadership.current.role !== 'leader') return false;
      try {
        const head = await this.stream!.head();
        // Unknown head (stream purged): skip everything queued rather than risk duplicates.
        const queuedLast = this.queued > 0 ? this.queue[this.queue.length - 1] : ORIGIN;
        const from = head ?? queuedLast;
        if (compareIds(from, this.head) > 0) this.head = { index: from.index, n: from.n };
        if (compareIds(this.trimmedThrough, this.head) > 0) {
          this.counters.gaps++;
          this.log.warn({ head: this.head, trimmedThrough: this.trimmedThrough }, 'events between the stream head and the queue were lost');
        }
        return true;
      } catch (err) {
        this.log.debug({ err: (err as Error).message, attempt }, 'cannot read the event stream head; retrying');
        await new Promise<void>((r) => this.clock.setTimeout(() => r(), Math.min(2000, 50 * 2 ** attempt)));
      }
    }
  }

  private onApplied(index: number, events: LeaseEvent[]): void {
    if (events.length === 0 || this.mode === 'off') return;
    const active = this.actor.getSnapshot().matches('active');
    // Leader-only mode has no use for a follower's queue: nobody can tell what was published.
    if (this.mode === 'leader' && !active) return;
    for (let n = 0; n < events.length; n++) this.queue.push({ index, n, event: events[n] });
    if (active) {
      // The earlier backlog beyond the bound goes out now (see the header); this burst, later.
      const beyond = () => this.queued - events.length - this.maxQueue;
      if (beyond() > 0) this.safeDrain(beyond());
      // Still beyond only if publishing threw: let that backlog go rather than grow without bound.
      for (let n = beyond(); n > 0; n--) {
        this.qStart++;
        this.counters.dropped++;
      }
      this.scheduleDrain();
      return;
    }
    while (this.queued > this.maxQueue) {
      this.trimmedThrough = this.queue[this.qStart++];
      this.counters.trimmed++;
    }
    this.compact();
  }

  /** `drain`, but what it throws (a publish path failing mid-run) is counted and logged, never passed on: its callers are Raft's apply and the event loop. */
  private safeDrain(max: number, sliceMs = Infinity): void {
    try {
      this.drain(max, sliceMs);
    } catch (err) {
      this.counters.publishErrors++;
      this.log.warn({ err: (err as Error).message }, 'publishing lease events failed');
      this.compact();
      if (this.qStart < this.queue.length) this.scheduleDrain();
    }
  }

  private scheduleDrain(): void {
    if (this.drainScheduled) return;
    this.drainScheduled = true;
    setImmediate(() => {
      this.drainScheduled = false;
      if (this.actor.getSnapshot().matches('active')) this.safeDrain(2000, this.sliceMs);
    });
  }

  /** Publishes up to `max` queued events (for at most about `sliceMs`) in order; reschedules itself for the rest. */
  private drain(max: number, sliceMs = Infinity): void {
    let done = 0;
    const until = sliceMs === Infinity ? Infinity : performance.now() + sliceMs;
    const frames = this.stream ? null : this.frames;
    while (this.qStart < this.queue.length && done < max) {
      if ((done & 63) === 63 && performance.now() >= until) break;
      const q = this.queue[this.qStart++];
      if (compareIds(q, this.head) <= 0) {
        this.counters.skipped++;
        continue;
      }
      done++;
      this.head = q;
      const e = q.event;
      try {
        if (frames !== null) {
          if (frames.add(e, q.index, q.n)) {
            this.counters.published++;
            continue;
          }
          frames.flush(); // what is written so far leaves before this one
        }
        const wire = wireEvent(e, q.index, q.n);
        if (this.stream) this.stream.publish(q, e.key.namespace, e.key.model, e.key.lease, wire);
        else this.opts.bus.publish(this.subj.events(e.key.namespace, e.key.model, e.key.lease), wire, { json: true });
        this.counters.published++;
      } catch (err) {
        // This event is lost, and when the frame path refused a run, the events written into it too.
        this.counters.publishErrors++;
        this.log.debug({ err: (err as Error).message, index: q.index }, 'event publish failed');
      }
    }
    frames?.flush();
    this.compact();
    if (this.qStart < this.queue.length) this.scheduleDrain();
  }

  private compact(): void {
    if (this.qStart === this.queue.length) {
      this.queue = [];
      this.qStart = 0;
    } else if (this.qStart > 1024 && this.qStart * 2 > this.queue.length) {
      this.queue = this.queue.slice(this.qStart);
      this.qStart = 0;
    }
  }
}
