/**
 * The clock updater advances the FSM's global time, the only clock leases expire by. It runs only
 * while the local Raft node leads: every `intervalMs` it proposes `setTime(old, new)` with `old`
 * read fresh from the FSM before each try and `new = old + wall time elapsed since its last
 * advance` (at least 1 ms). A concurrent setTime (a deposed leader's, say) makes ours OutOfSync;
 * then it re-reads and tries again.
 *
 * Its commands go straight to `raft.propose`, bypassing every client admission queue: the Juju
 * seed's failure was clock updates starving behind lease traffic so that nothing ever expired.
 *
 * Metric `lagMs`: wall time since this node's FSM time last moved (on every node, leader or not).
 */
import { randomBytes } from 'node:crypto';
import { createActor, fromPromise, setup, type Actor } from 'xstate';
import { systemClock, type Clock } from '../clock/clock.ts';
import { TenureError } from '../errors/errors.ts';
import { silentLogger, type Logger } from '../log/logger.ts';
import type { LeaseResult, SetTimeCommand } from '../lease/types.ts';
import type { LeadershipSource } from './leadership-feed.ts';
import { encodeLeaseCommand, type LeaseStateMachine } from './lease-state-machine.ts';
import { inspectable } from './inspection.ts';

export interface ClockUpdaterOptions {
  nodeId: string;
  raft: { propose(command: Uint8Array): Promise<unknown> };
  stateMachine: LeaseStateMachine;
  leadership: LeadershipSource;
  clock?: Clock;
  /** How often global time advances (default 1000 ms). */
  intervalMs?: number;
  /** OutOfSync re-reads per tick before waiting for the next one (default 3). */
  maxTries?: number;
  logger?: Logger;
}

interface Ctx {
  intervalMs: number;
  advance: () => Promise<void>;
}

const clockMachine = setup({
  types: {
    context: {} as Ctx,
    input: {} as Ctx,
    events: {} as { type: 'LEADER' } | { type: 'FOLLOWER' } | { type: 'STOP' },
  },
  delays: { interval: ({ context }) => context.intervalMs },
  actors: { advancing: fromPromise<void, Ctx>(({ input }) => input.advance()) },
}).createMachine({
  id: 'clockUpdater',
  context: ({ input }) => input,
  initial: 'follower',
  on: { STOP: '.stopped' },
  states: {
    follower: { on: { LEADER: 'leader' } },
    leader: {
      on: { FOLLOWER: 'follower' },
      initial: 'waiting',
      states: {
        waiting: { after: { interval: 'advancing' } },
        advancing: {
          invoke: { src: 'advancing', input: ({ context }) => context, onDone: 'waiting', onError: 'waiting' },
        },
      },
    },
    stopped: { type: 'final' },
  },
});

export class ClockUpdater {
  readonly counters = { advances: 0, outOfSync: 0, failures: 0 };
  private readonly clock: Clock;
  private readonly log: Logger;
  private readonly intervalMs: number;
  private readonly clientId: string;
  private seq = 0;
  private actor: Actor<typeof clockMachine>;
  /** Wall time of our last successful advance (the base of the next `elapsed`). */
  private lastAdvanceWall = 0;
  /** Wall time at which this node last saw the FSM's time move. */
  private lastMovedWall: number;
  private lastSeenTime: number;
  private unsubscribe: (() => void)[] = [];

  constructor(private readonly opts: ClockUpdaterOptions) {
    this.clock = opts.clock ?? systemClock;
    this.log = opts.logger ?? silentLogger;
    this.intervalMs = opts.intervalMs ?? 1000;
    if (!(this.intervalMs >= 1)) throw new RangeError('intervalMs must be at least 1');
    // A fresh identity per incarnation: a restarted node must not reuse old sequence numbers.
    this.clientId = `clock:${opts.nodeId}:${randomBytes(4).toString('hex')}`;
    this.lastMovedWall = this.clock.now();
    this.lastSeenTime = opts.stateMachine.fsm.time();
    this.actor = inspectable(
      createActor(clockMachine, {
        clock: this.clock,
        input: { intervalMs: this.intervalMs, advance: () => this.advance() },
      }),
    );
  }

  /** Wall ms since the FSM's global time last advanced (as seen by this node). */
  get lagMs(): number {
    return Math.max(0, this.clock.now() - this.lastMovedWall);
  }

  get state(): string {
    return JSON.stringify(this.actor.getSnapshot().value);
  }

  start(): void {
    const sm = this.opts.stateMachine;
    const noteTime = () => {
      const t = sm.fsm.time();
      if (t !== this.lastSeenTime) {
        this.lastSeenTime = t;
        this.lastMovedWall = this.clock.now();
      }
    };
    this.unsubscribe.push(sm.onApplied(noteTime));
    sm.onRestored(noteTime);
    this.actor.start();
    const follow = (role: string) => {
      if (role === 'leader') {
        if (!this.actor.getSnapshot().matches('leader')) this.lastAdvanceWall = this.clock.now();
        this.actor.send({ type: 'LEADER' });
      } else {
        this.actor.send({ type: 'FOLLOWER' });
      }
    };
    this.unsubscribe.push(this.opts.leadership.subscribe((l) => follow(l.role)));
    follow(this.opts.leadership.current.role);
  }

  stop(): void {
    for (const u of this.unsubscribe) u();
    this.unsubscribe = [];
    this.actor.send({ type: 'STOP' });
    this.actor.stop();
  }

  /** One tick: propose setTime, re-reading `old` after every OutOfSync, up to maxTries. */
  private async advance(): Promise<void> {
    const maxTries = this.opts.maxTries ?? 3;
    const giveUpAt = this.clock.now() + this.intervalMs;
    for (let tries = 0; tries < maxTries; ) {
      if (!this.actor.getSnapshot().matches('leader')) return;
      const oldTime = this.opts.stateMachine.fsm.time();
      const now = this.clock.now();
      const newTime = oldTime + Math.max(1, Math.round(now - this.lastAdvanceWall));
      const cmd: SetTimeCommand = { op: 'setTime', oldTime, newTime, clientId: this.clientId, seq: ++this.seq };
      let result: LeaseResult;
      try {
        result = (await this.opts.raft.propose(encodeLeaseCommand(cmd))) as LeaseResult;
      } catch (err) {
        // Raft's own queue is full: not shed for good, just try again shortly within this tick.
        if (err instanceof TenureError && err.code === 'Overloaded' && this.clock.now() < giveUpAt) {
          await new Promise<void>((r) => this.clock.setTimeout(() => r(), 5));
          continue;
        }
        this.counters.failures++;
        this.log.debug({ err: (err as Error).message }, 'setTime not applied');
        return;
      }
      tries++;
      if (result.ok) {
        this.lastAdvanceWall = now;
        this.counters.advances++;
        return;
      }
      if (result.code !== 'OutOfSync') {
        this.counters.failures++;
        this.log.warn({ code: result.code, message: result.message }, 'setTime rejected');
        return;
      }
      this.counters.outOfSync++;
    }
  }
}
