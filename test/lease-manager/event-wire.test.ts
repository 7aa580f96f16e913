import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { toWire, wireEvent } from '../../actors/event-wire.ts';
import { decode, encode, Encoded } from '../../bus/codec.ts';
import type { LeaseEvent } from '../../lease/types.ts';

// Any string JSON must escape or may pass through: quotes, backslashes, control characters,
// non-ASCII, astral characters and lone surrogates (JSON.stringify writes those as \udxxx).
const anyString = fc.oneof(fc.string({ unit: 'binary' }), fc.string({ unit: 'grapheme' }), fc.constantFrom('"', '\\', '\u0000\u001f', '\ud800', 'a\udc00b', 'π/∞', '💡'));
const num = fc.oneof(fc.integer({ min: 0, max: Number.MAX_SAFE_INTEGER }), fc.constantFrom(0, -0, 9, 10, 99, 100, 99_999_999, 1e8, 100_000_001, 1_763_750_000_007, 1e15, Number.MAX_SAFE_INTEGER, 2 ** 53, -1), fc.double({ noNaN: false }));
// Mostly names the fast path writes (printable ASCII, no quote or backslash), some that it leaves to JSON.stringify.
const name = fc.oneof(fc.string({ unit: fc.integer({ min: 0x20, max: 0x7e }).map((c) => String.fromCharCode(c)) }), anyString);

const key = fc.record({ namespace: name, model: name, lease: name });

const change = fc.record({
  kind: fc.constantFrom('claimed', 'extended', 'revoked', 'expired'),
  key,
  holder: name,
  expiry: num,
  token: num,
  index: fc.nat(),
}) as fc.Arbitrary<LeaseEvent>;
const pin = fc.record({
  kind: fc.constantFrom('pinned', 'unpinned'),
  key,
  holder: fc.option(anyString, { nil: null }),
  expiry: fc.option(num, { nil: null }),
  token: fc.option(num, { nil: null }),
  index: fc.nat(),
  entity: anyString,
  pinnedBy: fc.array(anyString, { maxLength: 4 }),
}) as fc.Arbitrary<LeaseEvent>;

describe('event wire JSON', () => {
  it('is byte for byte what JSON.stringify makes of the wire object, for any event', () => {
    // Payloads are cut from shared slabs: many in a row must not overlap or overwrite each other.
    const kept: [Uint8Array, string][] = [];
    fc.assert(
      fc.property(fc.oneof(change, pin), fc.nat(), fc.nat(), (e, index, n) => {
        const bytes = encode(wireEvent(e, index, n), true);
        const want = JSON.stringify(toWire(e, index, n));
        expect(Buffer.from(bytes).toString('utf8')).toBe(want);
        kept.push([bytes, want]);
      }),
      { numRuns: 3000 },
    );
    for (const [bytes, want] of kept) expect(Buffer.from(bytes).toString('utf8')).toBe(want);
  });

  it('reads back as the wire object through the bus codec', () => {
    const e: LeaseEvent = { kind: 'pinned', key: { namespace: 'ns', model: 'm', lease: 'l' }, holder: null, expiry: null, token: null, index: 7, entity: 'upgrade', pinnedBy: ['upgrade'] };
    for (const ev of [e, { ...e, kind: 'claimed', holder: 'h', expiry: 12, token: 3 } as LeaseEvent]) {
      expect(decode(encode(wireEvent(ev, 7, 2), true))).toEqual({ value: toWire(ev, 7, 2), json: true });
    }
  });

  it('an already encoded payload passes through the codec untouched, in either format', () => {
    const bytes = new Uint8Array([0x81, 0xa1, 0x61, 0x01]);
    expect(encode(new Encoded(bytes), false)).toBe(bytes);
    expect(encode(new Encoded(bytes), true)).toBe(bytes);
  });
});
