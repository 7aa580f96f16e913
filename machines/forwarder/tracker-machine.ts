/**
 * The client-side leader tracker's lifecycle as a statechart (visible in an inspector):
 * `unknown` → `discovering` → `connected` (a leader is known) or `noLeader`; any failure report
 * goes back through `discovering`, and a leadership notification jumps straight to the new state.
 * The tracker sends one event per discovery or leader change, never per request.
 */
import { assign, setup } from 'xstate';

export interface TrackerContext {
  leader: string | null;
  generation: number;
  discoveries: number;
}

export type TrackerEvent =
  | { type: 'DISCOVER'; generation: number }
  | { type: 'LEADER'; leader: string | null; generation: number }
  | { type: 'STOP' };

export const leaderTrackerMachine = setup({
  types: { context: {} as TrackerContext, events: {} as TrackerEvent },
  guards: {
    hasLeader: ({ event }) => event.type === 'LEADER' && event.leader !== null,
  },
  actions: {
    record: assign(({ event }) => (event.type === 'LEADER' ? { leader: event.leader, generation: event.generation } : {})),
    countDiscovery: assign({ discoveries: ({ context }) => context.discoveries + 1 }),
  },
}).createMachine({
  id: 'leaderTracker',
  context: { leader: null, generation: 0, discoveries: 0 },
  initial: 'unknown',
  on: {
    DISCOVER: { target: '.discovering', actions: 'countDiscovery' },
    LEADER: [
      { guard: 'hasLeader', target: '.connected', actions: 'record' },
      { target: '.noLeader', actions: 'record' },
    ],
    STOP: '.stopped',
  },
  states: {
    unknown: {},
    discovering: {},
    connected: {},
    noLeader: {},
    stopped: { type: 'final' },
  },
});
