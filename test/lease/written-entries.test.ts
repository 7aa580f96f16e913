import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { asBuffer } from '../../bus/codec.ts';
import { encodedCommandSize, writeLeaseCommand } from '../../lease/command-codec.ts';
import { validateCommand } from '../../lease/validate.ts';
import { LeaseStateMachine } from '../../actors/lease-state-machine.ts';
import { decodeCommandBatch, writeCommandBatch } from '../../machines/raft/command-batch.ts';
import type { LeaseCommand, LeaseEvent } from '../../lease/types.ts';

/** An entry as the facade leader writes it: one buffer of its own, commands written in place. */
function writeEntry(cmds: readonly LeaseCommand[]): Uint8Array {
  const total = cmds.reduce((n, c) => n + encodedCommandSize(c), 0);
  return writeCommandBatch(cmds.length, total, (out, view, at, i) => writeLeaseCommand(cmds[i], out, view, at));
}

/** What Raft hands the state machine: views of the entry's own bytes (RaftNode.applyCommitted). */
const commandsOf = (entry: Uint8Array) => decodeCommandBatch(asBuffer(entry));

function recorder(sm: LeaseStateMachine): LeaseEvent[][] {
  const seen: LeaseEvent[][] = [];
  sm.onApplied((_index, events) => seen.push(events));
  return seen;
}

const snapshotBytes = (sm: LeaseStateMachine) => Buffer.concat([...sm.snapshot()]);

// Mostly valid commands on a few keys, holders and clients (so they meet: Held, dedupe, stale
// sequence numbers, expiry by setTime), and values validation refuses, written as they are: a lone
// surrogate (written as U+FFFD), other non-ASCII, controls, empty, too long, fractions, -0, NaN.
const good = fc.constantFrom('a', 'b', 'c');
const odd = fc.constantFrom('\ud800', 'x\udc00y', 'é', '模型', '😀', '\u0000', '', 'x.y', ' ', 'n'.repeat(257), '\u200b');
const str = fc.oneof({ weight: 8, arbitrary: good }, { weight: 1, arbitrary: odd }, { weight: 1, arbitrary: fc.string({ maxLength: 6, unit: 'binary' }) });
const seq = fc.oneof({ weight: 8, arbitrary: fc.integer({ min: 0, max: 6 }) }, { weight: 1, arbitrary: fc.constantFrom(-0, -1, 0.5, Number.NaN, 2 ** 53) });
const dur = fc.oneof({ weight: 8, arbitrary: fc.integer({ min: 1, max: 3000 }) }, { weight: 1, arbitrary: fc.constantFrom(0, -0, 1.5, Number.NaN, 86_400_001) });
const key = fc.record({ namespace: str, model: fc.constant('m'), lease: str });
const command: fc.Arbitrary<LeaseCommand> = fc.oneof(
  { weight: 4, arbitrary: fc.record({ op: fc.constantFrom('claim' as const, 'extend' as const), key, holder: str, durationMs: dur, clientId: str, seq }) },
  { weight: 1, arbitrary: fc.record({ op: fc.constant('revoke' as const), key, holder: str, clientId: str, seq }) },
  { weight: 1, arbitrary: fc.record({ op: fc.constantFrom('pin' as const, 'unpin' as const), key, entity: str, clientId: str, seq }) },
);
// A tick is valid only from the FSM's current time: `valid` ticks are written from it when run.
const step = fc.oneof({ weight: 6, arbitrary: command.map((cmd) => ({ cmd })) }, { weight: 1, arbitrary: fc.record({ tick: fc.integer({ min: 1, max: 2000 }), valid: fc.boolean() }) });

describe('a leader applies the entries it wrote from the commands it wrote them from', () => {
  it('answers, emits and ends in exactly the state decoding the bytes gives (property)', () => {
    fc.assert(
      fc.property(fc.array(fc.array(step, { minLength: 1, maxLength: 8 }), { minLength: 1, maxLength: 12 }), (entries) => {
        const leader = new LeaseStateMachine();
        const follower = new LeaseStateMachine();
        const [leaderEvents, followerEvents] = [recorder(leader), recorder(follower)];
        let tickSeq = 0;
        let expectHeld = 0;
        entries.forEach((steps, i) => {
          const now = follower.fsm.time();
          const cmds = steps.map((s): LeaseCommand => ('cmd' in s ? s.cmd : { op: 'setTime', oldTime: s.valid ? now : now + 1, newTime: now + s.tick, clientId: 'clock', seq: ++tickSeq }));
          for (const c of cmds) {
            try {
              validateCommand(c);
              expectHeld++;
            } catch {
              // refused: decoded instead
            }
          }
          const entry = writeEntry(cmds);
          leader.written(entry, cmds);
          const copy = Uint8Array.from(entry); // what a follower holds: the same bytes, another buffer
          expect(leader.apply(i + 1, commandsOf(entry))).toEqual(follower.apply(i + 1, commandsOf(copy)));
        });
        expect(leaderEvents).toEqual(followerEvents);
        expect(snapshotBytes(leader)).toEqual(snapshotBytes(follower));
        expect(leader.appliedFromWritten).toBe(expectHeld);
        expect(follower.appliedFromWritten).toBe(0);
      }),
      { numRuns: 300 },
    );
  });

  it('decodes an entry it did not write as it is: a copy, a view into a larger buffer, a different count', () => {
    const claim = (lease: string, seq: number): LeaseCommand => ({ op: 'claim', key: { namespace: 'n', model: 'm', lease }, holder: 'h', durationMs: 1000, clientId: 'c', seq });
    const sm = new LeaseStateMachine();

    // Written here, but the bytes applied are a copy (read back from disk after a restart, say).
    const first = writeEntry([claim('a', 1)]);
    sm.written(first, [claim('a', 1)]);
    expect(sm.apply(1, commandsOf(Uint8Array.from(first)))).toMatchObject([{ ok: true }]);
    expect(sm.appliedFromWritten).toBe(0);

    // A view into a buffer shared with other bytes is never taken as written here.
    const shared = new Uint8Array(first.byteLength + 16);
    const second = writeEntry([claim('b', 2)]);
    shared.set(second, 8);
    const view = shared.subarray(8, 8 + second.byteLength);
    sm.written(view, [claim('b', 2)]);
    expect(sm.apply(2, commandsOf(view))).toMatchObject([{ ok: true }]);
    expect(sm.appliedFromWritten).toBe(0);

    // Objects that do not match the entry's count are ignored.
    const third = writeEntry([claim('c', 3), claim('d', 4)]);
    sm.written(third, [claim('c', 3)]);
    expect(sm.apply(3, commandsOf(third))).toMatchObject([{ ok: true }, { ok: true }]);
    expect(sm.appliedFromWritten).toBe(0);

    // The entry itself: taken from the objects, once (applying the same buffer again decodes).
    const fourth = writeEntry([claim('e', 5)]);
    sm.written(fourth, [claim('e', 5)]);
    expect(sm.apply(4, commandsOf(fourth))).toMatchObject([{ ok: true, holder: 'h' }]);
    expect(sm.appliedFromWritten).toBe(1);
    expect(sm.apply(5, commandsOf(fourth))).toMatchObject([{ ok: true, holder: 'h' }]); // same seq: the remembered answer
    expect(sm.appliedFromWritten).toBe(1);
  });
});
