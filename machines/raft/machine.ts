import { assign, setup } from 'xstate';
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

interface RaftContext extends RaftMachineInput {
  /** Election epoch the running election timer was started for. */
  seenEpoch: number;
  /**
   * The two guarded timers, noted in place (like `core`) by their delay functions: a follower
   * restarts its election timer on every message from its leader, too often for a context copy.
   */
  timers: { election: Armed; quorum: Armed };
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
    counting: { after: { election: [{ guard: 'electionLate', target: 'grace' }, { actions: 'electionTimeout' }] } },
    grace: { after: { electionGrace: [{ guard: 'electionLate', target: 'grace', reenter: true }, { actions: 'electionTimeout' }] } },
  },
} as const;

export const raftMachine = setup({
  types: {
    context: {} as RaftContext,
    input: {} as RaftMachineInput,
    events: {} as RaftEvent,
  },
  // Each guarded timer notes when it was armed and for how long as its delay is taken: XState reads
  // a delay exactly when it schedules the timer (entry actions may run later, e.g. at start).
  delays: {
    election: ({ context }) =>
      arm(context, context.timers.election, context.electionMinMs + Math.floor(context.rng.next() * (context.electionMaxMs - context.electionMinMs)), 0),
    electionGrace: ({ context }) => arm(context, context.timers.election, 2 * context.heartbeatMs, context.timers.election.graces + 1),
    heartbeat: ({ context }) => context.heartbeatMs,
    quorumCheck: ({ context }) => arm(context, context.timers.quorum, context.electionMinMs, 0),
    quorumGrace: ({ context }) => arm(context, context.timers.quorum, 2 * context.heartbeatMs, context.timers.quorum.graces + 1),
  },
  guards: {
    is_follower: roleIs('follower'),
    is_preCandidate: roleIs('preCandidate'),
    is_candidate: roleIs('candidate'),
    is_leader: roleIs('leader'),
    electionReset: ({ context }) => context.core.electionEpoch !== context.seenEpoch,
    electionLate: ({ context }) => firedLate(context, context.timers.election),
    quorumLate: ({ context }) => firedLate(context, context.timers.quorum),
  },
  actions: {
    noteEpoch: assign({ seenEpoch: ({ context }) => context.core.electionEpoch }),
    electionTimeout: ({ context }) => context.core.electionTimeout(),
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
    seenEpoch: -1,
    timers: { election: { at: 0, delayMs: 0, graces: 0 }, quorum: { at: 0, delayMs: 0, graces: 0 } },
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
    follower: {
      entry: 'noteEpoch',
      always: [...followRole('follower'), { guard: 'electionReset', target: 'follower', reenter: true }],
      ...electionTimer,
    },
    preCandidate: {
      entry: 'noteEpoch',
      always: [...followRole('preCandidate'), { guard: 'electionReset', target: 'preCandidate', reenter: true }],
      ...electionTimer,
    },
    candidate: {
      entry: 'noteEpoch',
      always: [...followRole('candidate'), { guard: 'electionReset', target: 'candidate', reenter: true }],
      ...electionTimer,
    },
    leader: {
      entry: 'noteEpoch',
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
