import { setup, type Actor } from 'xstate';
import type { Rng } from '../../clock/clock.ts';
import type { RaftCore, Role } from './core.ts';
import type { RaftMessage } from './messages.ts';
import type { NodeId, SnapshotMeta } from './types.ts';

/**
 * The Raft node's roles and timers as a statechart. Time enters only through XState's clock (the
 * `after` delays) and the injected `now` (the same clock), so a simulated clock drives it
 * deterministically. Per-message work happens in the pure `RaftCore`; the chart decides when
 * elections, heartbeats and quorum checks run.
 *
 * A stall is not silence. When the process stalls (a long synchronous burst, a GC pause, a starved
 * CPU), every timer that came due meanwhile fires before the messages that queued up meanwhile are
 * read, so an election timer or the leader's quorum check that fires more than a heartbeat interval
 * late says more about this process than about its peers. Such a timer does not act: it grants a
 * grace of two heartbeat intervals (the peers' messages are read, a stalled leader sends its
 * heartbeats), at most `MAX_GRACES` times in a row, and acts when a timer fires on time or the
 * graces are used up. A follower that hears from its leader meanwhile restarts its timer as usual.
 *
 * Restarting is lazy. Every message from the leader restarts the election timer (the core bumps its
 * `electionEpoch`); the chart only notes when (`noteReset`, in place) and lets the running timer
 * be. When the timer fires on time it asks whether it was restarted since it was armed: if so it
 * arms again for what is left of a fresh randomized timeout counted from the last restart, so it
 * acts only when no restart came for a whole timeout, as an eager restart would (a timer that fires
 * late takes its grace first, as above). Re-entering the state on every append (exit, enter,
 * cancel and schedule a timer) cost a follower 90–180 µs per message on the write path, measured
 * in place; noting costs a few.
 */

type Respond<T> = (err: Error | null, value?: T) => void;

export type RaftEvent =
  | { type: 'MESSAGE'; msg: RaftMessage; respond: Respond<RaftMessage[]> }
  | { type: 'PROPOSE'; datas: Uint8Array[]; respond: Respond<{ index: number; term: number }> }
  | { type: 'CHANGE_MEMBERSHIP'; add?: NodeId; remove?: NodeId; respond: Respond<{ index: number; term: number }> }
  | { type: 'TRANSFER_LEADERSHIP'; to: NodeId; respond: Respond<void> }
  | { type: 'READ_INDEX'; ctx: number; respond: Respond<void> }
  | { type: 'PERSISTED'; index: number; term: number }
  | { type: 'APPLIED'; index: number }
  | { type: 'COMPACTED'; meta: SnapshotMeta }
  | { type: 'SNAPSHOT_SENT'; to: NodeId; ok: boolean; index: number }
  | { type: 'UNREACHABLE'; to: NodeId }
  | { type: 'CAMPAIGN' }
  /** Sent by `deliver` after a step outside the interpreter changed the core's role. */
  | { type: 'SYNC' };

export interface RaftMachineInput {
  core: RaftCore;
  rng: Rng;
  electionMinMs: number;
  electionMaxMs: number;
  heartbeatMs: number;
  /** The clock the `after` delays run on (ms); tells a timer that fired late from one on time. */
  now: () => number;
}

/**
 * Graces in a row a late timer may take before it acts anyway. Only a process whose every timer
 * fires late uses them up (each grace is ≥ 2 heartbeat intervals: ≥ 4 s at the 100 ms default);
 * such a process would make a poor leader, and its peers elect without it. The bound keeps an
 * election certain even if all nodes stall without end.
 */
export const MAX_GRACES = 20;

/** When one of the two guarded timers (election, quorum check) was armed and for how long. */
interface Armed {
  at: number;
  delayMs: number;
  graces: number;
}

/** The election timer also notes the core's restarts (see "Restarting is lazy" above). */
interface ElectionArmed extends Armed {
  /** The core's `electionEpoch` last noted. */
  epoch: number;
  /** The epoch noted when the timer was armed: another one since means it was restarted. */
  armedEpoch: number;
  /** When a restart was last noted (the state's entry counts as one). */
  resetAt: number;
}

interface RaftContext extends RaftMachineInput {
  /**
   * The two guarded timers, noted in place (like `core`) by their delay functions and `noteReset`:
   * a follower restarts its election timer on every message from its leader, too often for a
   * context copy.
   */
  timers: { election: ElectionArmed; quorum: Armed };
}

/** Notes that `t` is armed now for `delayMs`, after `graces` graces in a row; returns the delay. */
function arm(context: RaftContext, t: Armed, delayMs: number, graces: number): number {
  t.at = context.now();
  t.delayMs = delayMs;
  t.graces = graces;
  return delayMs;
}

/** The timer fired more than a heartbeat interval after it was due, and a grace is left. */
function firedLate(context: RaftContext, t: Armed): boolean {
  return t.graces < MAX_GRACES && context.now() - (t.at + t.delayMs) > context.heartbeatMs;
}

/** A fresh randomized election timeout (ms). */
function electionTimeoutMs(context: RaftContext): number {
  return context.electionMinMs + Math.floor(context.rng.next() * (context.electionMaxMs - context.electionMinMs));
}

/** `arm` for the election timer, also noting which restart it was armed after. */
function armElection(context: RaftContext, delayMs: number, graces: number): number {
  const t = context.timers.election;
  t.armedEpoch = t.epoch;
  return arm(context, t, delayMs, graces);
}

/** Notes the core's current election epoch as a restart now (in place: see RaftContext). */
function noteReset(context: RaftContext): void {
  const t = context.timers.election;
  t.epoch = context.core.electionEpoch;
  t.resetAt = context.now();
}

function call<T>(respond: Respond<T>, fn: () => T): void {
  let value: T;
  try {
    value = fn();
  } catch (err) {
    respond(err as Error);
    return;
  }
  respond(null, value);
}

/** What an event does to the core (the chart's `run` action, and `deliver` outside the interpreter). */
export function runEvent(context: RaftContext, event: RaftEvent): void {
  const core = context.core;
  switch (event.type) {
    case 'MESSAGE':
      return call(event.respond, () => core.step(event.msg));
    case 'PROPOSE':
      return call(event.respond, () => core.propose(event.datas));
    case 'CHANGE_MEMBERSHIP':
      return call(event.respond, () => core.changeMembership(event));
    case 'TRANSFER_LEADERSHIP':
      return call(event.respond, () => core.transferLeadership(event.to));
    case 'READ_INDEX':
      return call(event.respond, () => core.readIndex(event.ctx));
    case 'PERSISTED':
      return core.persistedTo(event.index, event.term);
    case 'APPLIED':
      return core.appliedTo(event.index);
    case 'COMPACTED':
      return core.compacted(event.meta);
    case 'SNAPSHOT_SENT':
      return core.snapshotSent(event.to, event.ok, event.index);
    case 'UNREACHABLE':
      return core.unreachable(event.to);
  }
}

/** The events of the write path, which `deliver` may run outside the interpreter. */
const HOT = new Set<RaftEvent['type']>(['MESSAGE', 'PROPOSE', 'READ_INDEX', 'PERSISTED', 'APPLIED']);

/**
 * Delivers an event to a started Raft chart. The chart reacts to a write-path event (an append, its
 * acknowledgement, a proposal, a durable write, an applied entry, a read) only through the eventless
 * transitions that follow every event: to the core's role if the step changed it, else, in a role
 * that waits for a leader, noting an election-timer restart (`noteReset`). Run through the
 * interpreter, that was ≈ 9 % of a busy node's CPU (selecting transitions, microsteps, memoised
 * lookups — docs/benchmarks.md, twenty-third session), so such an event runs on the core here and
 * only a role change goes to the interpreter, as `SYNC`, whose eventless transitions follow the
 * core as before. Anything else (membership, transfer, campaign, …) is sent; a stopped chart takes
 * nothing.
 *
 * Returns true when it ran outside the interpreter: the caller then does what it does after a
 * transition. It must not be called while the actor is busy (from inside one of its transitions or
 * observers): the interpreter would have queued the event, this would run it at once. Throws what
 * the core throws outside a `respond` (an invariant broken), as the chart's action would fail.
 */
export function deliver(actor: Actor<typeof raftMachine>, event: RaftEvent): boolean {
  const snap = actor.getSnapshot();
  if (snap.status !== 'active') return false; // stopped or failed: the interpreter would ignore it too
  if (!HOT.has(event.type)) {
    actor.send(event);
    return false;
  }
  const context = snap.context;
  const role = context.core.role;
  runEvent(context, event);
  if (context.core.role !== role) {
    actor.send({ type: 'SYNC' });
    return false;
  }
  if (role !== 'leader' && context.core.electionEpoch !== context.timers.election.epoch) noteReset(context);
  return true;
}

const roleIs = (role: Role) => ({ context }: { context: RaftContext }) => context.core.role === role;

/** Eventless transitions that keep the chart's state equal to the core's role. */
function followRole(except: Role) {
  const all: Role[] = ['follower', 'preCandidate', 'candidate', 'leader'];
  return all.filter((r) => r !== except).map((r) => ({ guard: `is_${r}` as const, target: `#raft.${r}` }));
}

/** The non-leader roles' election timer: acts when it fires on time, else after graces (see above). */
const electionTimer = {
  initial: 'counting',
  states: {
    counting: {
      after: {
        // Late first: after a stall the grace lets queued messages in, restarted or not.
        election: [
          { guard: 'electionLate', target: 'grace' },
          { guard: 'restartedSinceArmed', target: 'counting', reenter: true },
          { target: 'counting', reenter: true, actions: 'electionTimeout' },
        ],
      },
    },
    grace: {
      after: {
        electionGrace: [
          { guard: 'restartedSinceArmed', target: 'counting' },
          { guard: 'electionLate', target: 'grace', reenter: true },
          { target: 'counting', actions: 'electionTimeout' },
        ],
      },
    },
  },
} as const;

/** A role that waits for a leader (follower, preCandidate, candidate): tracks the core, notes restarts, times out. */
function waitingRole(role: Exclude<Role, 'leader'>) {
  return {
    entry: 'noteReset',
    always: [...followRole(role), { guard: 'electionReset', actions: 'noteReset' }],
    ...electionTimer,
  } as const;
}

export const raftMachine = setup({
  types: {
    context: {} as RaftContext,
    input: {} as RaftMachineInput,
    events: {} as RaftEvent,
  },
  // Each guarded timer notes when it was armed and for how long as its delay is taken: XState reads
  // a delay exactly when it schedules the timer (entry actions may run later, e.g. at start).
  delays: {
    // A fresh timeout counted from the last restart (noted lazily), at least 1 ms from now.
    election: ({ context }) =>
      armElection(context, Math.max(1, context.timers.election.resetAt + electionTimeoutMs(context) - context.now()), 0),
    electionGrace: ({ context }) => armElection(context, 2 * context.heartbeatMs, context.timers.election.graces + 1),
    heartbeat: ({ context }) => context.heartbeatMs,
    quorumCheck: ({ context }) => arm(context, context.timers.quorum, context.electionMinMs, 0),
    quorumGrace: ({ context }) => arm(context, context.timers.quorum, 2 * context.heartbeatMs, context.timers.quorum.graces + 1),
  },
  guards: {
    is_follower: roleIs('follower'),
    is_preCandidate: roleIs('preCandidate'),
    is_candidate: roleIs('candidate'),
    is_leader: roleIs('leader'),
    electionReset: ({ context }) => context.core.electionEpoch !== context.timers.election.epoch,
    restartedSinceArmed: ({ context }) => context.timers.election.epoch !== context.timers.election.armedEpoch,
    electionLate: ({ context }) => firedLate(context, context.timers.election),
    quorumLate: ({ context }) => firedLate(context, context.timers.quorum),
  },
  actions: {
    noteReset: ({ context }) => noteReset(context),
    // The timeout restarts the timer (the core bumps its epoch): noted before the state re-arms it.
    electionTimeout: ({ context }) => {
      context.core.electionTimeout();
      noteReset(context);
    },
    heartbeat: ({ context }) => context.core.heartbeat(),
    checkQuorum: ({ context }) => context.core.checkQuorum(),
    // Every event that only steps the core (see `runEvent`): the interpreter's part is the eventless
    // transitions that follow, which `deliver` replicates when it skips the interpreter.
    run: ({ context, event }) => runEvent(context, event),
    campaign: ({ context }) => {
      if (context.core.role !== 'leader' && context.core.isVoter()) context.core.campaign('vote', true);
    },
  },
}).createMachine({
  id: 'raft',
  context: ({ input }) => ({
    ...input,
    // resetAt starts now: at start XState reads the first delay before running entry actions.
    timers: { election: { at: 0, delayMs: 0, graces: 0, epoch: -1, armedEpoch: -1, resetAt: input.now() }, quorum: { at: 0, delayMs: 0, graces: 0 } },
  }),
  initial: 'follower',
  on: {
    MESSAGE: { actions: 'run' },
    PROPOSE: { actions: 'run' },
    CHANGE_MEMBERSHIP: { actions: 'run' },
    TRANSFER_LEADERSHIP: { actions: 'run' },
    READ_INDEX: { actions: 'run' },
    PERSISTED: { actions: 'run' },
    APPLIED: { actions: 'run' },
    COMPACTED: { actions: 'run' },
    SNAPSHOT_SENT: { actions: 'run' },
    UNREACHABLE: { actions: 'run' },
    CAMPAIGN: { actions: 'campaign' },
    // No action: the eventless transitions that follow every event bring the chart to the core's role.
    SYNC: {},
  },
  states: {
    follower: waitingRole('follower'),
    preCandidate: waitingRole('preCandidate'),
    candidate: waitingRole('candidate'),
    leader: {
      entry: 'noteReset',
      always: followRole('leader'),
      type: 'parallel',
      states: {
        replicating: {
          initial: 'beating',
          states: {
            beating: { after: { heartbeat: { target: 'beating', reenter: true, actions: 'heartbeat' } } },
          },
        },
        quorum: {
          initial: 'counting',
          states: {
            counting: {
              after: { quorumCheck: [{ guard: 'quorumLate', target: 'grace' }, { target: 'counting', reenter: true, actions: 'checkQuorum' }] },
            },
            grace: {
              after: { quorumGrace: [{ guard: 'quorumLate', target: 'grace', reenter: true }, { target: 'counting', actions: 'checkQuorum' }] },
            },
          },
        },
      },
    },
  },
});
