import { assign, setup } from 'xstate';
import type { Rng } from '../../clock/clock.ts';
import type { RaftCore, Role } from './core.ts';
import type { RaftMessage } from './messages.ts';
import type { NodeId, SnapshotMeta } from './types.ts';

/**
 * The Raft node's roles and timers as a statechart. Time enters only through XState's clock (the
 * `after` delays), so a simulated clock drives it deterministically. Per-message work happens in
 * the pure `RaftCore`; the chart decides when elections, heartbeats and quorum checks run.
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
}

interface RaftContext extends RaftMachineInput {
  /** Election epoch the running election timer was started for. */
  seenEpoch: number;
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

export const raftMachine = setup({
  types: {
    context: {} as RaftContext,
    input: {} as RaftMachineInput,
    events: {} as RaftEvent,
  },
  delays: {
    election: ({ context }) => context.electionMinMs + Math.floor(context.rng.next() * (context.electionMaxMs - context.electionMinMs)),
    heartbeat: ({ context }) => context.heartbeatMs,
    quorumCheck: ({ context }) => context.electionMinMs,
  },
  guards: {
    is_follower: roleIs('follower'),
    is_preCandidate: roleIs('preCandidate'),
    is_candidate: roleIs('candidate'),
    is_leader: roleIs('leader'),
    electionReset: ({ context }) => context.core.electionEpoch !== context.seenEpoch,
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
  context: ({ input }) => ({ ...input, seenEpoch: -1 }),
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
      after: { election: { actions: 'electionTimeout' } },
    },
    preCandidate: {
      entry: 'noteEpoch',
      always: [...followRole('preCandidate'), { guard: 'electionReset', target: 'preCandidate', reenter: true }],
      after: { election: { actions: 'electionTimeout' } },
    },
    candidate: {
      entry: 'noteEpoch',
      always: [...followRole('candidate'), { guard: 'electionReset', target: 'candidate', reenter: true }],
      after: { election: { actions: 'electionTimeout' } },
    },
    leader: {
      entry: 'noteEpoch',
      always: followRole('leader'),
      after: { quorumCheck: { target: 'leader', reenter: true, actions: 'checkQuorum' } },
      initial: 'replicating',
      states: {
        replicating: {
          after: { heartbeat: { target: 'replicating', reenter: true, actions: 'heartbeat' } },
        },
      },
    },
  },
});
