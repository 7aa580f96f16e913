import { setup } from 'xstate';
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
  | { type: 'CAMPAIGN' };

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
    step: ({ context, event }) => {
      if (event.type === 'MESSAGE') call(event.respond, () => context.core.step(event.msg));
    },
    propose: ({ context, event }) => {
      if (event.type === 'PROPOSE') call(event.respond, () => context.core.propose(event.datas));
    },
    changeMembership: ({ context, event }) => {
      if (event.type === 'CHANGE_MEMBERSHIP') call(event.respond, () => context.core.changeMembership(event));
    },
    transferLeadership: ({ context, event }) => {
      if (event.type === 'TRANSFER_LEADERSHIP') call(event.respond, () => context.core.transferLeadership(event.to));
    },
    readIndex: ({ context, event }) => {
      if (event.type === 'READ_INDEX') call(event.respond, () => context.core.readIndex(event.ctx));
    },
    persisted: ({ context, event }) => {
      if (event.type === 'PERSISTED') context.core.persistedTo(event.index, event.term);
    },
    applied: ({ context, event }) => {
      if (event.type === 'APPLIED') context.core.appliedTo(event.index);
    },
    compacted: ({ context, event }) => {
      if (event.type === 'COMPACTED') context.core.compacted(event.meta);
    },
    snapshotSent: ({ context, event }) => {
      if (event.type === 'SNAPSHOT_SENT') context.core.snapshotSent(event.to, event.ok, event.index);
    },
    unreachable: ({ context, event }) => {
      if (event.type === 'UNREACHABLE') context.core.unreachable(event.to);
    },
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
    MESSAGE: { actions: 'step' },
    PROPOSE: { actions: 'propose' },
    CHANGE_MEMBERSHIP: { actions: 'changeMembership' },
    TRANSFER_LEADERSHIP: { actions: 'transferLeadership' },
    READ_INDEX: { actions: 'readIndex' },
    PERSISTED: { actions: 'persisted' },
    APPLIED: { actions: 'applied' },
    COMPACTED: { actions: 'compacted' },
    SNAPSHOT_SENT: { actions: 'snapshotSent' },
    UNREACHABLE: { actions: 'unreachable' },
    CAMPAIGN: { actions: 'campaign' },
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
