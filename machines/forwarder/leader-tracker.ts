/**
 * Client-side leader tracker (seed: Azure FC primary tracker). One object per node holds the
 * believed leader with a generation number. A caller whose request to generation g's leader
 * failed reports `failed(g, hint)`: the first report for g re-discovers (or adopts the NotLeader
 * reply's hint) and moves to g+1; every other report for g — however many callers failed at
 * once — waits for that same re-discovery instead of starting its own. Reports for an older
 * generation return the current view at once. So a failover costs one discovery, not one per
 * thread fighting over shared state (the Azure incident).
 *
 * Requests in flight are bounded by an InFlightLimit (see there for what happens when full).
 */
import { createActor, type Actor } from 'xstate';
import { systemClock, type Clock } from '../../clock/clock.ts';
import { InFlightLimit } from './in-flight-limit.ts';
import { leaderTrackerMachine } from './tracker-machine.ts';
import { inspectable } from '../../actors/inspection.ts';

export interface LeaderView {
  readonly leader: string | null;
  readonly generation: number;
}

export interface LeaderTrackerOptions {
  /**
   * Finds the leader; in a Tenure node this is the local Raft node's view (`raft.leader`), which
   * is cheap and as fresh as this node's heartbeats. Null means no leader is known.
   */
  discover: () => string | null | Promise<string | null>;
  clock?: Clock;
  /** Requests to the leader in flight at once (default 1024). */
  maxInFlight?: number;
  /** Callers waiting for a slot beyond that (default 4096); more are refused with Overloaded. */
  maxWaiting?: number;
  /** Longest a caller waits for a slot before Overloaded (default 1000 ms; the deadline if shorter). */
  maxWaitMs?: number;
}

export class LeaderTracker {
  readonly limit: InFlightLimit;
  /** Lifecycle for inspection (unknown / discovering / connected / noLeader). */
  readonly actor: Actor<typeof leaderTrackerMachine>;
  readonly counters = { discoveries: 0, hintsAdopted: 0, observed: 0, coalescedFailures: 0 };
  private view: LeaderView = { leader: null, generation: 0 };
  private known = false;
  private discovering: { generation: number; done: Promise<LeaderView> } | null = null;
  private readonly discover: () => string | null | Promise<string | null>;

  constructor(opts: LeaderTrackerOptions) {
    this.discover = opts.discover;
    this.limit = new InFlightLimit({
      clock: opts.clock ?? systemClock,
      maxInFlight: opts.maxInFlight ?? 1024,
      maxWaiting: opts.maxWaiting ?? 4096,
      maxWaitMs: opts.maxWaitMs ?? 1000,
    });
    this.actor = inspectable(createActor(leaderTrackerMachine));
    this.actor.start();
  }

  /** The current view; the first call discovers. */
  current(): Promise<LeaderView> {
    if (this.known) return Promise.resolve(this.view);
    return this.failed(this.view.generation);
  }

  /** The view without discovering (may be generation 0, leader unknown). */
  peek(): LeaderView {
    return this.view;
  }

  /**
   * A request to generation `generation`'s leader failed (NotLeader, NoLeader, no responders).
   * `hint` is the leader a NotLeader reply named, if any. Resolves with the next view.
   */
  failed(generation: number, hint: string | null = null): Promise<LeaderView> {
    if (generation < this.view.generation) return Promise.resolve(this.view);
    if (this.discovering && this.discovering.generation === generation) {
      this.counters.coalescedFailures++;
      return this.discovering.done;
    }
    if (hint !== null) {
      // The node that answered knows the leader: that answer is this generation's re-discovery.
      this.counters.hintsAdopted++;
      this.install(hint);
      return Promise.resolve(this.view);
    }
    this.counters.discoveries++;
    this.actor.send({ type: 'DISCOVER', generation });
    const done = (async (): Promise<LeaderView> => {
      let leader: string | null;
      try {
        leader = await this.discover();
      } catch {
        leader = null;
      }
      // A leadership notification may have moved on meanwhile; it is fresher than this answer.
      if (this.view.generation === generation) this.install(leader);
      this.discovering = null;
      return this.view;
    })();
    this.discovering = { generation, done };
    return done;
  }

  /** Leadership notification from this node's Raft (latest-value mailbox): adopt it at once. */
  observe(leader: string | null): void {
    if (this.known && leader === this.view.leader) return;
    this.counters.observed++;
    this.install(leader);
  }

  stop(): void {
    this.actor.send({ type: 'STOP' });
    this.actor.stop();
  }

  private install(leader: string | null): void {
    this.known = true;
    this.view = { leader, generation: this.view.generation + 1 };
    this.actor.send({ type: 'LEADER', leader, generation: this.view.generation });
  }
}
