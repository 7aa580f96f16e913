import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { Packr } from 'msgpackr';
import { COMMAND_MARKER, decodeValidCommand, encodedCommandSize, encodeLeaseCommand, writeLeaseCommand } from '../../lease/command-codec.ts';
import { decodeCommandBatch, encodeCommandBatch, writeCommandBatch } from '../../machines/raft/command-batch.ts';
import { TenureError } from '../../errors/errors.ts';
import { validateCommand } from '../../lease/validate.ts';
import { LeaseStateMachine } from '../../actors/lease-state-machine.ts';
import type { LeaseCommand } from '../../lease/types.ts';

const key = { namespace: 'ns', model: 'm', lease: 'l' };
const samples: LeaseCommand[] = [
  { op: 'claim', key, holder: 'h', durationMs: 5000, clientId: 'c', seq: 1 },
  { op: 'extend', key, holder: 'h', durationMs: 86_400_000, clientId: 'c', seq: 2 ** 53 - 1 },
  { op: 'revoke', key, holder: 'h', clientId: 'c', seq: 3 },
  { op: 'pin', key, entity: 'e', clientId: 'c', seq: 4 },
  { op: 'unpin', key, entity: 'e', clientId: 'c', seq: 5 },
  { op: 'setTime', oldTime: 0, newTime: 1_700_000_000_000, clientId: 'clock', seq: 6 },
];

describe('lease command codec (Raft log encoding)', () => {
  it('round-trips every op', () => {
    for (const cmd of samples) {
      const bytes = encodeLeaseCommand(cmd);
      expect(bytes[0]).toBe(COMMAND_MARKER);
      expect(decodeValidCommand(bytes)).toEqual(cmd);
    }
  });

  it('round-trips non-ASCII names and keeps earlier encodings intact (no shared buffer)', () => {
    const a = encodeLeaseCommand({ op: 'claim', key: { namespace: 'ñs', model: '模型', lease: 'l😀' }, holder: 'hé', durationMs: 1, clientId: 'c', seq: 1 });
    const b = encodeLeaseCommand(samples[0]);
    expect(decodeValidCommand(a)).toMatchObject({ key: { namespace: 'ñs', model: '模型', lease: 'l😀' }, holder: 'hé' });
    expect(decodeValidCommand(b)).toMatchObject({ key });
  });

  it('still decodes commands written as msgpack by earlier versions', () => {
    const packr = new Packr({ useRecords: false });
    for (const cmd of samples) expect(decodeValidCommand(packr.pack(cmd))).toEqual(cmd);
  });

  it('throws on truncated, trailing or unknown input; the state machine answers Invalid for it', () => {
    const good = encodeLeaseCommand(samples[0]);
    expect(() => decodeValidCommand(good.subarray(0, good.byteLength - 1))).toThrow(/truncated/);
    expect(() => decodeValidCommand(Uint8Array.of(...good, 0))).toThrow(/trailing/);
    expect(() => decodeValidCommand(Uint8Array.of(COMMAND_MARKER, 99))).toThrow(/unknown op/);
    expect(() => decodeValidCommand(Uint8Array.of(COMMAND_MARKER))).toThrow(/truncated/);
    const sm = new LeaseStateMachine();
    const results = sm.apply(1, [Uint8Array.of(COMMAND_MARKER, 1, 0xff), good]) as { ok: boolean; code?: string }[];
    expect(results[0]).toMatchObject({ ok: false, code: 'Invalid' });
    expect(results[1]).toMatchObject({ ok: true, holder: 'h' });
  });

  it('round-trips any valid command (property)', () => {
    const name = fc.string({ minLength: 1, maxLength: 40, unit: 'grapheme' }).filter((s) => {
      try {
        validateCommand({ op: 'pin', key: { namespace: s, model: s, lease: s }, entity: s, clientId: s, seq: 0 });
        return true;
      } catch {
        return false;
      }
    });
    const n = fc.integer({ min: 0, max: Number.MAX_SAFE_INTEGER });
    const cmd = fc.oneof(
      fc.record({ op: fc.constantFrom('claim', 'extend'), ns: name, holder: name, durationMs: fc.integer({ min: 1, max: 86_400_000 }), clientId: name, seq: n }).map(
        ({ ns, ...r }) => ({ ...r, key: { namespace: ns, model: ns, lease: ns } }),
      ),
      fc.record({ op: fc.constant('revoke'), ns: name, holder: name, clientId: name, seq: n }).map(({ ns, ...r }) => ({ ...r, key: { namespace: ns, model: 'm', lease: ns } })),
      fc.record({ op: fc.constantFrom('pin', 'unpin'), ns: name, entity: name, clientId: name, seq: n }).map(({ ns, ...r }) => ({ ...r, key: { namespace: 'n', model: ns, lease: ns } })),
      fc.record({ op: fc.constant('setTime'), oldTime: n, newTime: n, clientId: name, seq: n }),
    );
    fc.assert(
      fc.property(cmd, (raw) => {
        const c = validateCommand(raw);
        expect(decodeValidCommand(encodeLeaseCommand(c))).toEqual(c);
      }),
      { numRuns: 300 },
    );
  });

  it('decodes any entry, valid or not, to what validateCommand says of the command written; a cut entry throws undecodable (property)', () => {
    // Strings and numbers of any kind, valid or not, written as an entry (the encoder does not validate).
    const str = fc.oneof(fc.constantFrom('ns', 'a.b', 'x*', '', ' ', 'ok-name', 'é', '\u0000', 'x'.repeat(257), 'c'.repeat(129)), fc.string({ maxLength: 12 }));
    const num = fc.oneof(fc.integer({ min: -3, max: 90_000_000 }), fc.constantFrom(-0, 0.5, Number.NaN, Infinity, 2 ** 53, 86_400_001));
    const raw = fc.oneof(
      fc.record({ op: fc.constantFrom('claim', 'extend'), ns: str, model: str, lease: str, holder: str, durationMs: num, clientId: str, seq: num }),
      fc.record({ op: fc.constant('revoke'), ns: str, model: str, lease: str, holder: str, clientId: str, seq: num }),
      fc.record({ op: fc.constantFrom('pin', 'unpin'), ns: str, model: str, lease: str, entity: str, clientId: str, seq: num }),
      fc.record({ op: fc.constant('setTime'), ns: str, model: str, lease: str, oldTime: num, newTime: num, clientId: str, seq: num }),
    );
    const outcome = (f: () => unknown) => {
      try {
        return { value: f() };
      } catch (err) {
        return err instanceof TenureError ? { invalid: err.details.field, message: err.message } : { thrown: (err as Error).message };
      }
    };
    fc.assert(
      fc.property(raw, fc.integer({ min: 1, max: 3 }), ({ ns, model, lease, ...rest }, cut) => {
        const written = { ...rest, key: { namespace: ns, model, lease } };
        const bytes = encodeLeaseCommand(written as unknown as LeaseCommand);
        // setTime carries no key: validateCommand of what was written ignores it as the layout does.
        expect(outcome(() => decodeValidCommand(bytes))).toEqual(outcome(() => validateCommand(written)));
        expect(outcome(() => decodeValidCommand(bytes.subarray(0, bytes.byteLength - cut)))).toHaveProperty('thrown');
      }),
      { numRuns: 2000 },
    );
    const packr = new Packr({ useRecords: false });
    for (const cmd of samples) expect(decodeValidCommand(packr.pack(cmd))).toEqual(cmd); // msgpack entries of earlier versions
  });

  it('writes a batch of commands in place exactly as encoded one by one; the size it counts is exact (property)', () => {
    // Any UTF-16 (lone surrogates, astral characters, NUL): the writer does not validate, and its
    // size must match what TextEncoder writes (a lone surrogate becomes U+FFFD, 3 bytes).
    const str = fc.oneof(fc.string({ maxLength: 20 }), fc.string({ maxLength: 20, unit: 'binary' }), fc.string({ maxLength: 8, unit: 'grapheme' }));
    const num = fc.oneof(fc.integer({ min: 0, max: 90_000_000 }), fc.constantFrom(-0, 0.5, Number.NaN, 2 ** 53));
    const raw = fc.oneof(
      fc.record({ op: fc.constantFrom('claim', 'extend'), ns: str, model: str, lease: str, holder: str, durationMs: num, clientId: str, seq: num }),
      fc.record({ op: fc.constant('revoke'), ns: str, model: str, lease: str, holder: str, clientId: str, seq: num }),
      fc.record({ op: fc.constantFrom('pin', 'unpin'), ns: str, model: str, lease: str, entity: str, clientId: str, seq: num }),
      fc.record({ op: fc.constant('setTime'), ns: str, model: str, lease: str, oldTime: num, newTime: num, clientId: str, seq: num }),
    );
    const asCommand = ({ ns, model, lease, ...rest }: { ns: string; model: string; lease: string }) => ({ ...rest, key: { namespace: ns, model, lease } }) as unknown as LeaseCommand;
    fc.assert(
      fc.property(fc.array(raw.map(asCommand), { minLength: 1, maxLength: 12 }), (cmds) => {
        const one = cmds.map(encodeLeaseCommand);
        cmds.forEach((c, i) => expect(encodedCommandSize(c)).toBe(one[i].byteLength));
        const total = cmds.reduce((n, c) => n + encodedCommandSize(c), 0);
        const entry = writeCommandBatch(cmds.length, total, (out, view, at, i) => writeLeaseCommand(cmds[i], out, view, at));
        expect(entry).toEqual(encodeCommandBatch(one));
        expect(decodeCommandBatch(entry).map((b) => Uint8Array.from(b))).toEqual(one.map((b) => Uint8Array.from(b)));
      }),
      { numRuns: 500 },
    );
  });

  it('refuses a batch whose commands do not fill exactly the room counted for them', () => {
    const cmd = samples[0];
    const size = encodedCommandSize(cmd);
    const write = (out: Uint8Array, view: DataView, at: number) => writeLeaseCommand(cmd, out, view, at);
    expect(() => writeCommandBatch(2, 2 * size + 1, write)).toThrow(/left unwritten/);
    expect(() => writeCommandBatch(2, 2 * size - 1, write)).toThrow(/overran|out of bounds|Offset/);
    expect(() => writeCommandBatch(1, size, () => 3)).toThrow(/overran/);
  });
});
