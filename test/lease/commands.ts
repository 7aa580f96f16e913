/**
 * fast-check generators for lease command sequences. Steps are symbolic (indices into small
 * alphabets, "send the next/same/stale sequence number", "tick in or out of sync") and become
 * real commands only when run, because a valid setTime depends on the FSM's current time.
 */
import fc from 'fast-check';
import type { LeaseCommand, LeaseKey } from '../../lease/types.ts';

// 'a' is a prefix of 'ab': checks that key order is tuple order, not joined-string order.
export const NAMESPACES = ['a', 'ab'];
export const MODELS = ['m', 'm2'];
export const LEASES = ['x', 'y', 'z'];
export const HOLDERS = ['h1', 'h2', 'h3'];
export const ENTITIES = ['e1', 'e2'];
export const CLIENTS = ['c1', 'c2', 'c3', 'c4', 'c5'];
export const CLOCK_CLIENT = 'clock';

export const ALL_KEYS: LeaseKey[] = NAMESPACES.flatMap((namespace) =>
  MODELS.flatMap((model) => LEASES.map((lease) => ({ namespace, model, lease }))),
);

export type SeqMode = 'next' | 'same' | 'stale' | 'jump';

export type Step =
  | { t: 'claim' | 'extend'; k: number; h: number; d: number; c: number; s: SeqMode }
  | { t: 'revoke'; k: number; h: number; c: number; s: SeqMode }
  | { t: 'pin' | 'unpin'; k: number; e: number; c: number; s: SeqMode }
  | { t: 'tick'; sync: boolean; skew: number; delta: number; s: SeqMode }
  | { t: 'retry'; c: number };

export interface Batch {
  gap: number;
  steps: Step[];
}

const seqMode: fc.Arbitrary<SeqMode> = fc.constantFrom<SeqMode>('next', 'next', 'next', 'next', 'same', 'stale', 'jump');
// Mostly a few hot keys, so claims, extends, revokes and pins meet on the same key often.
const k = fc.oneof({ weight: 3, arbitrary: fc.nat({ max: 2 }) }, { weight: 1, arbitrary: fc.nat({ max: ALL_KEYS.length - 1 }) });
const c = fc.nat({ max: CLIENTS.length - 1 });

export const stepArb: fc.Arbitrary<Step> = fc.oneof(
  { weight: 5, arbitrary: fc.record({ t: fc.constant('claim' as const), k, h: fc.nat({ max: HOLDERS.length - 1 }), d: fc.integer({ min: 1, max: 60 }), c, s: seqMode }) },
  { weight: 3, arbitrary: fc.record({ t: fc.constant('extend' as const), k, h: fc.nat({ max: HOLDERS.length - 1 }), d: fc.integer({ min: 1, max: 60 }), c, s: seqMode }) },
  { weight: 2, arbitrary: fc.record({ t: fc.constant('revoke' as const), k, h: fc.nat({ max: HOLDERS.length - 1 }), c, s: seqMode }) },
  { weight: 2, arbitrary: fc.record({ t: fc.constantFrom('pin' as const, 'unpin' as const), k, e: fc.nat({ max: ENTITIES.length - 1 }), c, s: seqMode }) },
  {
    weight: 3,
    arbitrary: fc.record({
      t: fc.constant('tick' as const),
      sync: fc.constantFrom(true, true, true, false),
      skew: fc.integer({ min: -20, max: 20 }),
      delta: fc.integer({ min: -3, max: 30 }),
      s: seqMode,
    }),
  },
  { weight: 1, arbitrary: fc.record({ t: fc.constant('retry' as const), c }) },
);

export const batchArb: fc.Arbitrary<Batch> = fc.record({
  gap: fc.integer({ min: 1, max: 3 }),
  steps: fc.array(stepArb, { minLength: 0, maxLength: 6, size: 'max' }),
});

// size 'max': the default 'small' size would cap histories at about ten entries.
export const batchesArb = (maxLength = 40) => fc.array(batchArb, { minLength: 1, maxLength, size: 'max' });

/** Turns symbolic steps into commands, tracking each client's sequence numbers and last command. */
export class CommandMaker {
  private readonly lastSeq = new Map<string, number>();
  private readonly lastCmd = new Map<string, LeaseCommand>();
  private index = 0;

  nextIndex(gap: number): number {
    return (this.index += gap);
  }

  make(step: Step, time: number): LeaseCommand {
    if (step.t === 'retry') {
      const clientId = CLIENTS[step.c];
      const prev = this.lastCmd.get(clientId);
      if (prev) return prev;
      return this.make({ t: 'revoke', k: 0, h: 0, c: step.c, s: 'next' }, time);
    }
    const clientId = step.t === 'tick' ? CLOCK_CLIENT : CLIENTS[step.c];
    const seq = this.seq(clientId, step.s);
    let cmd: LeaseCommand;
    switch (step.t) {
      case 'claim':
      case 'extend':
        cmd = { op: step.t, key: ALL_KEYS[step.k], holder: HOLDERS[step.h], durationMs: step.d, clientId, seq };
        break;
      case 'revoke':
        cmd = { op: 'revoke', key: ALL_KEYS[step.k], holder: HOLDERS[step.h], clientId, seq };
        break;
      case 'pin':
      case 'unpin':
        cmd = { op: step.t, key: ALL_KEYS[step.k], entity: ENTITIES[step.e], clientId, seq };
        break;
      case 'tick': {
        const oldTime = step.sync ? time : Math.max(0, time + step.skew);
        cmd = { op: 'setTime', oldTime, newTime: Math.max(0, oldTime + step.delta), clientId, seq };
        break;
      }
    }
    this.lastCmd.set(clientId, cmd);
    return cmd;
  }

  private seq(clientId: string, mode: SeqMode): number {
    const last = this.lastSeq.get(clientId) ?? 0;
    const seq = mode === 'next' ? last + 1 : mode === 'same' ? last : mode === 'stale' ? Math.max(0, last - 2) : last + 5;
    this.lastSeq.set(clientId, Math.max(last, seq));
    return seq;
  }
}
