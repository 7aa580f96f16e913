import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { TenureError } from '../../errors/errors.ts';
import { MAX_DURATION_MS, validateCommand, validateKey, validateListFilter } from '../../lease/validate.ts';
import { CommandMaker, stepArb } from './commands.ts';

/** The field an Invalid error names, or 'accepted'; anything but Invalid fails the test. */
function outcome(fn: () => unknown): string {
  try {
    fn();
    return 'accepted';
  } catch (err) {
    expect(err).toBeInstanceOf(TenureError);
    expect((err as TenureError).code).toBe('Invalid');
    const field = (err as TenureError).details.field;
    expect(typeof field).toBe('string');
    expect((err as TenureError).message.startsWith(`${field}: `)).toBe(true);
    return field as string;
  }
}

const key = { namespace: 'application-leadership', model: 'm1', lease: 'app1' };
const claim = { op: 'claim', key, holder: 'app1/0', durationMs: 10_000, clientId: 'client-1', seq: 1 };
const setTime = { op: 'setTime', oldTime: 0, newTime: 1000, clientId: 'clock', seq: 1 };

describe('validateCommand', () => {
  it('accepts every command the generators make, unchanged, and drops unknown fields', () => {
    fc.assert(
      fc.property(fc.array(stepArb, { maxLength: 20 }), (steps) => {
        const maker = new CommandMaker();
        for (const s of steps) {
          const cmd = maker.make(s, 100);
          expect(validateCommand({ ...cmd, extra: 'ignored' })).toEqual(cmd);
        }
      }),
    );
  });

  it('accepts a flat key, as `nats req` users send it', () => {
    const { key: _k, ...rest } = claim;
    expect(validateCommand({ ...rest, ...key })).toEqual(claim);
  });

  const bad: [string, Record<string, unknown>, string][] = [
    ['not an object', null as never, 'command'],
    ['an array', [] as never, 'command'],
    ['no op', { ...claim, op: undefined }, 'op'],
    ['unknown op', { ...claim, op: 'steal' }, 'op'],
    ['key not an object', { ...claim, key: 'a.b.c' }, 'key'],
    ['missing namespace', { ...claim, key: { model: 'm', lease: 'l' } }, 'namespace'],
    ['empty namespace', { ...claim, key: { ...key, namespace: '' } }, 'namespace'],
    ['namespace with a dot', { ...claim, key: { ...key, namespace: 'a.b' } }, 'namespace'],
    ['model with a wildcard', { ...claim, key: { ...key, model: 'm*' } }, 'model'],
    ['lease with >', { ...claim, key: { ...key, lease: 'x>' } }, 'lease'],
    ['lease with a space', { ...claim, key: { ...key, lease: 'a b' } }, 'lease'],
    ['lease with a tab', { ...claim, key: { ...key, lease: 'a\tb' } }, 'lease'],
    ['lease with a no-break space', { ...claim, key: { ...key, lease: 'a\u00a0b' } }, 'lease'],
    ['lease of 257 chars', { ...claim, key: { ...key, lease: 'x'.repeat(257) } }, 'lease'],
    ['lease with NUL', { ...claim, key: { ...key, lease: 'a\u0000' } }, 'lease'],
    ['model a number', { ...claim, key: { ...key, model: 7 } }, 'model'],
    ['holder missing', { ...claim, holder: undefined }, 'holder'],
    ['holder empty', { ...claim, holder: '' }, 'holder'],
    ['holder with DEL', { ...claim, holder: 'a\u007f' }, 'holder'],
    ['holder with C1 control', { ...claim, holder: 'a\u0085' }, 'holder'],
    ['holder with a lone surrogate', { ...claim, holder: 'a\ud800' }, 'holder'],
    ['holder with a bidi override', { ...claim, holder: 'a\u202e' }, 'holder'],
    ['holder of 257 chars', { ...claim, holder: 'h'.repeat(257) }, 'holder'],
    ['durationMs 0', { ...claim, durationMs: 0 }, 'durationMs'],
    ['durationMs over a day', { ...claim, durationMs: MAX_DURATION_MS + 1 }, 'durationMs'],
    ['durationMs fractional', { ...claim, durationMs: 1.5 }, 'durationMs'],
    ['durationMs a string', { ...claim, durationMs: '1000' }, 'durationMs'],
    ['durationMs NaN', { ...claim, durationMs: NaN }, 'durationMs'],
    ['durationMs missing', { ...claim, durationMs: undefined }, 'durationMs'],
    ['clientId missing', { ...claim, clientId: undefined }, 'clientId'],
    ['clientId empty', { ...claim, clientId: '' }, 'clientId'],
    ['clientId of 129 chars', { ...claim, clientId: 'c'.repeat(129) }, 'clientId'],
    ['seq negative', { ...claim, seq: -1 }, 'seq'],
    ['seq unsafe', { ...claim, seq: 2 ** 53 }, 'seq'],
    ['seq a bigint', { ...claim, seq: 1n }, 'seq'],
    ['seq missing', { ...claim, seq: undefined }, 'seq'],
    ['entity missing on pin', { op: 'pin', key, clientId: 'c', seq: 1 }, 'entity'],
    ['entity with newline', { op: 'unpin', key, entity: 'a\nb', clientId: 'c', seq: 1 }, 'entity'],
    ['holder missing on revoke', { op: 'revoke', key, clientId: 'c', seq: 1 }, 'holder'],
    ['oldTime negative', { ...setTime, oldTime: -1 }, 'oldTime'],
    ['newTime fractional', { ...setTime, newTime: 0.5 }, 'newTime'],
    ['newTime Infinity', { ...setTime, newTime: Infinity }, 'newTime'],
    ['oldTime missing', { ...setTime, oldTime: undefined }, 'oldTime'],
  ];
  it.each(bad)('%s → Invalid naming %s', (_name, raw, field) => {
    expect(outcome(() => validateCommand(raw))).toBe(field);
  });

  it('accepts the boundaries', () => {
    expect(outcome(() => validateCommand({ ...claim, durationMs: 1 }))).toBe('accepted');
    expect(outcome(() => validateCommand({ ...claim, durationMs: MAX_DURATION_MS }))).toBe('accepted');
    expect(outcome(() => validateCommand({ ...claim, key: { ...key, lease: 'x'.repeat(256) }, holder: 'h'.repeat(256) }))).toBe('accepted');
    expect(outcome(() => validateCommand({ ...claim, clientId: 'c'.repeat(128), seq: Number.MAX_SAFE_INTEGER }))).toBe('accepted');
    expect(outcome(() => validateCommand({ ...claim, key: { ...key, lease: 'ünïcödé-😀-名前' }, holder: 'unit 0/app.1' }))).toBe('accepted');
    expect(outcome(() => validateCommand({ ...setTime, oldTime: 0, newTime: 0 }))).toBe('accepted'); // OutOfSync is the FSM's call
  });

  it('takes a tighter duration limit when configured', () => {
    expect(outcome(() => validateCommand({ ...claim, durationMs: 61_000 }, { maxDurationMs: 60_000 }))).toBe('durationMs');
  });

  it('turns unreadable objects into Invalid', () => {
    const hostile = Object.defineProperty({ ...claim }, 'holder', {
      get() {
        throw new Error('boom');
      },
    });
    expect(outcome(() => validateCommand(hostile))).toBe('command');
  });

  it('never throws anything but Invalid for garbage', () => {
    fc.assert(
      fc.property(fc.anything({ withBigInt: true, withMap: true, withSet: true, withTypedArray: true, withNullPrototype: true }), (raw) => {
        outcome(() => validateCommand(raw));
        outcome(() => validateKey(raw));
        outcome(() => validateListFilter(raw));
      }),
      { numRuns: 2000 },
    );
  });

  it('names the field it was given when one field of a good command is replaced by garbage', () => {
    const fields = ['holder', 'durationMs', 'clientId', 'seq', 'namespace', 'model', 'lease'] as const;
    fc.assert(
      fc.property(fc.constantFrom(...fields), fc.anything(), (field, value) => {
        const raw =
          field === 'namespace' || field === 'model' || field === 'lease'
            ? { ...claim, key: { ...key, [field]: value } }
            : { ...claim, [field]: value };
        const got = outcome(() => validateCommand(raw));
        expect(['accepted', field]).toContain(got);
      }),
      { numRuns: 1000 },
    );
  });
});

describe('read requests', () => {
  it('validateKey takes nested or flat keys and names the bad part', () => {
    expect(validateKey(key)).toEqual(key);
    expect(validateKey({ key })).toEqual(key);
    expect(outcome(() => validateKey({ ...key, model: 'a.b' }))).toBe('model');
    expect(outcome(() => validateKey('x'))).toBe('key');
  });

  it('validateListFilter allows either part to be absent', () => {
    expect(validateListFilter(undefined)).toEqual({});
    expect(validateListFilter({ namespace: 'n' })).toEqual({ namespace: 'n' });
    expect(validateListFilter({ namespace: 'n', model: 'm', junk: 1 })).toEqual({ namespace: 'n', model: 'm' });
    expect(outcome(() => validateListFilter({ model: '>' }))).toBe('model');
    expect(outcome(() => validateListFilter(3))).toBe('filter');
  });
});
