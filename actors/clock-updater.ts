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
 * Stamps (`stampMs`, default 100): a claim's expiry counts from the global time, which by ticks
 * alone is up to a tick old when the claim applies, so a lease lasted up to one tick interval less
 * than its duration (1 s ticks: the seed's 5 s claims renewed every 4.5 s found 98,216 leases gone,
 * docs/benchmarks.md). So whenever the leader's proposal batcher writes client commands and at
 * least `stampMs` of wall time has passed since the last advance, it puts a setTime of its own
 * first (RaftNode.setProposalLead): the commands behind it count from the leader's time as they
 * were proposed, to within `stampMs`. Ticks still run for idle clusters (expiry needs time to move).
 * Setting time stays the one command it always was (nothing new in the log, no new semantics).
 * Proposed setTimes chain: the next one's `old` is the last one's `new` while it is in flight, so
 * pipelined stamps do not make each other OutOfSync; a failed one breaks the chain and the next
 * reads the FSM's time again.
 *
 * Metric `lagMs`: wall time since this node's FSM time last moved (on every node, leader or not).
 */
import { randomBytes } from 'node:crypto';
import { createActor, fromPromise, setup, type Actor } from 'xstate';
import { systemClock, type Clock } from '../clock/clock.ts';
import { TenureError } from '../errors/errors.ts';
import { silentLogger, type Logger } from '../log/logger.ts';
import type { LeaseResult, SetTimeCommand } from '../lease/types.ts';
import type { ProposalLead } from './proposal-batcher.ts';
import type { LeadershipSource } from './leadership-feed.ts';
import { encodeLeaseCommand, type LeaseStateMachine } from './lease-state-machine.ts';
import { inspectable } from './inspection.ts';

export interface ClockUpdaterOptions {
  nodeId: string;
  raft: {
    propose(command: Uint8Array): Promise<unknown>;
    /** Lets the clock put a command first in what the leader proposes (RaftNode; absent: ticks only). */
    setProposalLead?(lead: ProposalLead | null): void;
  };
  stateMachine: LeaseStateMachine;
  leadership: LeadershipSource;
  clock?: Clock;
  /** How often global time advances (default 1000 ms). */
  intervalMs?: number;
  /**
   * Least wall time since the last advance for the leader to put a setTime before client commands
   * it proposes (default 100 ms; 0 = ticks only, as before the twenty-eighth session).
   */
  stampMs?: number;
  /** OutOfSync re-reads per tick before waiting for the next one (default 3). */
  maxTries?: number;
  logger?: Logger;
}

/** The end of the chain of proposed setTimes: the time the last one sets and the wall time it stands for. */
interface Link {
  time: number;
  wall: number;
}

/** One setTime built from the chain, with what undoing it needs. */
interface Next {
  cmd: SetTimeCommand;
  link: Link;
  prev: Link | null;
  gen: number;
}

export const DEFAULT_STAMP_MS = 100;

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
  /** `advances`: ticks applied; `stamps`: setTimes put ahead of client commands and applied. */
  readonly counters = { advances: 0, stamps: 0, outOfSync: 0, failures: 0 };
  private readonly clock: Clock;
  private readonly log: Logger;
  private readonly intervalMs: number;
  private readonly stampMs: number;
  private readonly clientId: string;
  private seq = 0;
  private actor: Actor<typeof clockMachine>;
  /** Wall time our last applied setTime stands for (the base of the next `elapsed` when unchained). */
  private lastAdvanceWall = 0;
  /** The last setTime proposed and not known to have failed; null: the next reads the FSM's time. */
  private chain: Link | null = null;
  /** Bumped whenever the chain breaks: failures of setTimes built on an older chain change nothing. */
  private gen = 0;
  /** Wall time at which this node last saw the FSM's time move. */
  private lastMovedWall: number;
  private lastSeenTime: number;
  private unsubscribe: (() => void)[] = [];

  constructor(private readonly opts: ClockUpdaterOptions) {
    this.clock = opts.clock ?? systemClock;
    this.log = opts.logger ?? silentLogger;
    this.intervalMs = opts.intervalMs ?? 1000;
    if (!(this.intervalMs >= 1)) throw new RangeError('intervalMs must be at least 1');
    this.stampMs = opts.stampMs ?? DEFAULT_STAMP_MS;
    if (!(this.stampMs >= 0)) throw new RangeError('stampMs must be non-negative');
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
        if (!this.leading) {
          this.lastAdvanceWall = this.clock.now();
          this.breakChain();
          // What the next setTime would say as of now: answers on this node count from it.
          sm.setLeaderClock((now) => sm.fsm.time() + Math.max(0, now - this.lastAdvanceWall));
        }
        this.actor.send({ type: 'LEADER' });
      } else {
        if (this.leading) {
          this.breakChain();
          sm.setLeaderClock(null);
        }
        this.actor.send({ type: 'FOLLOWER' });
      }
    };
    if (this.stampMs > 0 && this.opts.raft.setProposalLead) this.opts.raft.setProposalLead(() => this.stamp());
    this.unsubscribe.push(this.opts.leadership.subscribe((l) => follow(l.role)));
    follow(this.opts.leadership.current.role);
  }

  stop(): void {
    if (this.stampMs > 0) this.opts.raft.setProposalLead?.(null);
    this.opts.stateMachine.setLeaderClock(null);
    for (const u of this.unsubscribe) u();
    this.unsubscribe = [];
    this.actor.send({ type: 'STOP' });
    this.actor.stop();
  }

  private get leading(): boolean {
    return this.actor.getSnapshot().matches('leader');
  }

  private breakChain(): void {
    this.chain = null;
    this.gen++;
  }

  /**
   * The next setTime: `old` is the end of the chain (else the FSM's time), `new` adds the wall time
   * since the time `old` stands for (at least 1 ms). Null when that is under `minStepMs`.
   */
  private nextSetTime(minStepMs: number): Next | null {
    const prev = this.chain;
    const old = prev ? prev.time : this.opts.stateMachine.fsm.time();
    const base = prev ? prev.wall : this.lastAdvanceWall;
    const step = Math.round(this.clock.now() - base);
    if (step < minStepMs) return null;
    const add = Math.max(1, step);
    const link = { time: old + add, wall: base + add };
    this.chain = link;
    return { cmd: { op: 'setTime', oldTime: old, newTime: link.time, clientId: this.clientId, seq: ++this.seq }, link, prev, gen: this.gen };
  }

  /** A setTime that was never appended (Raft's queue was full): the chain goes back to before it. */
  private unpropose(next: Next): void {
    if (this.chain === next.link) this.chain = next.prev;
    else if (next.gen === this.gen) this.breakChain();
  }

  private applied(next: Next): void {
    this.lastAdvanceWall = next.link.wall;
  }

  private failed(next: Next): void {
    if (next.gen === this.gen) this.breakChain();
  }

  /** Called by the leader's proposal batcher as it writes client commands (RaftNode.setProposalLead). */
  private stamp(): ReturnType<ProposalLead> {
    if (!this.leading) return null;
    const next = this.nextSetTime(this.stampMs);
    if (next === null) return null;
    return {
      command: encodeLeaseCommand(next.cmd),
      settle: (err, result) => {
        const r = result as LeaseResult | undefined;
        if (!err && r?.ok) {
          this.applied(next);
          this.counters.stamps++;
          return;
        }
        this.failed(next);
        if (!err && r && !r.ok && r.code === 'OutOfSync') this.counters.outOfSync++;
        else this.counters.failures++;
      },
    };
  }

  /** One tick: propose setTime, re-reading `old` after every OutOfSync, up to maxTries. */
  private async advance(): Promise<void> {
    const maxTries = this.opts.maxTries ?? 3;
    const giveUpAt = this.clock.now() + this.intervalMs;
    for (let tries = 0; tries < maxTries; ) {
      if (!this.leading) return;
      const next = this.nextSetTime(0)!;
      let result: LeaseResult;
      try {
        result = (await this.opts.raft.propose(encodeLeaseCommand(next.cmd))) as LeaseResult;
      } catch (err) {
        // Raft's own queue is full: not shed for good, just try again shortly within this tick.
        if (err instanceof TenureError && err.code === 'Overloaded' && this.clock.now() < giveUpAt) {
          this.unpropose(next);
          await new Promise<void>((r) => this.clock.setTimeout(() => r(), 5));
          continue;
        }
        this.failed(next);
        this.counters.failures++;
        this.log.debug({ err: (err as Error).message }, 'setTime not applied');
        return;
      }
      tries++;
      if (result.ok) {
        this.applied(next);
        this.counters.advances++;
        return;
      }
      this.failed(next);
      if (result.code !== 'OutOfSync') {
        this.counters.failures++;
        this.log.warn({ code: result.code, message: result.message }, 'setTime rejected');
        return;
      }
      this.counters.outOfSync++;
    }
  }
}
