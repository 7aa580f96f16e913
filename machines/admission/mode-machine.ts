/**
 * The admission queue's mode as a statechart, so shedding is visible in an inspector and in
 * status output: `open` (every lane admits) or `shedding` (some lanes refuse because of load).
 * Per-command work stays in the AdmissionQueue; the owner sends one PRESSURE event only when the
 * set of shedding lanes changes, so this machine costs nothing per operation.
 */
import { assign, setup } from 'xstate';
import type { Lane } from './lanes.ts';

export interface AdmissionModeContext {
  /** Lanes refusing because of load (empty while open). */
  shedding: Lane[];
  /** Time the current mode was entered. */
  since: number;
  /** How many times the queue started shedding. */
  episodes: number;
}

export type AdmissionModeEvent = { type: 'PRESSURE'; shedding: Lane[]; at: number } | { type: 'STOP' };

export const admissionModeMachine = setup({
  types: {
    context: {} as AdmissionModeContext,
    events: {} as AdmissionModeEvent,
  },
  guards: {
    sheds: ({ event }) => event.type === 'PRESSURE' && event.shedding.length > 0,
    calm: ({ event }) => event.type === 'PRESSURE' && event.shedding.length === 0,
  },
  actions: {
    recordPressure: assign({ shedding: ({ context, event }) => (event.type === 'PRESSURE' ? event.shedding : context.shedding) }),
    enteredAt: assign({ since: ({ event }) => (event.type === 'PRESSURE' ? event.at : 0) }),
    countEpisode: assign({ episodes: ({ context }) => context.episodes + 1 }),
  },
}).createMachine({
  id: 'admission',
  context: { shedding: [], since: 0, episodes: 0 },
  initial: 'open',
  states: {
    open: {
      on: {
        PRESSURE: { guard: 'sheds', target: 'shedding', actions: ['recordPressure', 'enteredAt', 'countEpisode'] },
        STOP: 'stopped',
      },
    },
    shedding: {
      on: {
        PRESSURE: [
          { guard: 'calm', target: 'open', actions: ['recordPressure', 'enteredAt'] },
          // Still shedding, possibly a different set of lanes (claims only, then extends too).
          { actions: 'recordPressure' },
        ],
        STOP: 'stopped',
      },
    },
    stopped: { type: 'final' },
  },
});

export type AdmissionMode = 'open' | 'shedding' | 'stopped';
