import { describe, expect, it } from 'vitest';
import { Unpackr } from 'msgpackr';
import {
  decode,
  decodeError,
  encode,
  encodeError,
  isJsonPayload,
  JSON_CONTENT_TYPE,
} from '../../bus/codec.ts';
import { TenureError } from '../../errors/errors.ts';

const text = (s: string) => new TextEncoder().encode(s);

function invalidOf(fn: () => unknown): TenureError {
  try {
    fn();
  } catch (err) {
    expect(err).toBeInstanceOf(TenureError);
    return err as TenureError;
  }
  throw new Error('expected a throw');
}

describe('codec', () => {
  const sample = { namespace: 'application-leadership', model: 'm1', lease: 'app1', durationMs: 10_000, tags: ['a', 'b'], n: null, nested: { x: 1.5 } };

  it('round-trips msgpack', () => {
    const bytes = encode(sample, false);
    expect(bytes[0]).not.toBe(0x7b);
    const { value, json } = decode(bytes);
    expect(json).toBe(false);
    expect(value).toEqual(sample);
  });

  it('writes plain msgpack maps that other clients can read (no records extension)', () => {
    const bytes = encode({ a: 1, b: 'x' }, false);
    expect((bytes[0] & 0xf0) === 0x80 || bytes[0] === 0xde || bytes[0] === 0xdf).toBe(true); // a msgpack map
    expect(new Unpackr({ useRecords: false, mapsAsObjects: true }).unpack(bytes)).toEqual({ a: 1, b: 'x' });
  });

  it('round-trips JSON and detects it by its first byte', () => {
    const bytes = encode(sample, true);
    expect(new TextDecoder().decode(bytes)).toBe(JSON.stringify(sample));
    expect(decode(bytes)).toEqual({ value: sample, json: true });
    expect(decode(text('  \n\t{"a":1}'))).toEqual({ value: { a: 1 }, json: true });
    expect(decode(text('[1,2]'))).toEqual({ value: [1, 2], json: true });
  });

  it('honours the Content-Type header', () => {
    expect(isJsonPayload(text('{}'), undefined)).toBe(true);
    expect(isJsonPayload(encode({ a: 1 }, false), 'application/json; charset=utf-8')).toBe(true);
    expect(isJsonPayload(text('{'), 'application/msgpack')).toBe(false);
    expect(decode(text('{"a":2}'), JSON_CONTENT_TYPE)).toEqual({ value: { a: 2 }, json: true });
    // A JSON content type on msgpack bytes is believed, and the bytes are not valid JSON.
    expect(invalidOf(() => decode(encode({ a: 1 }, false), JSON_CONTENT_TYPE)).details.field).toBe('payload');
  });

  it('treats an empty payload as {} in JSON', () => {
    expect(decode(new Uint8Array(0))).toEqual({ value: {}, json: true });
    expect(decode(text('   '))).toEqual({ value: {}, json: true });
  });

  it('rejects garbage bytes with Invalid naming payload', () => {
    for (const bytes of [
      new Uint8Array([0xc1]), // never-used msgpack byte
      new Uint8Array([0x85, 0xa1]), // truncated map
      text('{"a":'), // truncated JSON
      new Uint8Array([0x7b, 0xff, 0xfe]), // invalid UTF-8
      text('hello'), // msgpack fixint followed by junk → top level is not an object
      new Uint8Array([0x2a]), // msgpack number 42
      text('"str"'),
      text('null'),
    ]) {
      const err = invalidOf(() => decode(bytes));
      expect(err.code).toBe('Invalid');
      expect(err.details.field).toBe('payload');
      expect(err.message).toMatch(/^payload: /);
    }
  });

  it('rejects oversize payloads before decoding', () => {
    const bytes = encode({ blob: 'x'.repeat(2000) }, false);
    const err = invalidOf(() => decode(bytes, undefined, 1024));
    expect(err.code).toBe('Invalid');
    expect(err.details.field).toBe('payload');
    expect(err.message).toMatch(/too large/);
    expect(decode(bytes, undefined, bytes.length).value).toEqual({ blob: 'x'.repeat(2000) });
  });

  it('omits undefined properties in both formats', () => {
    const v = { a: 1, b: undefined, c: { d: undefined, e: [1, undefined] } };
    expect(decode(encode(v, false)).value).toEqual({ a: 1, c: { e: [1, null] } });
    expect(decode(encode(v, false)).value).toStrictEqual(decode(encode(v, true)).value);
    expect(v.b).toBeUndefined(); // the input is not modified
    expect('b' in v).toBe(true);
    expect(decode(encode(undefined, false)).value).toEqual({});
  });

  it('JSON bytes match TextEncoder and stay intact while later payloads are encoded', () => {
    const values = [
      { a: 'plain' },
      { name: 'é€😀', lone: '\ud800' }, // multi-byte UTF-8; a lone surrogate is escaped by JSON.stringify
      { big: 'x'.repeat(20_000) }, // larger than a slab share: its own buffer
      ...Array.from({ length: 2_000 }, (_, i) => ({ i, pad: 'y'.repeat(i % 97) })), // crosses many slabs
    ];
    const out = values.map((v) => encode(v, true));
    out.forEach((bytes, i) => {
      expect(Buffer.from(bytes).equals(Buffer.from(text(JSON.stringify(values[i]))))).toBe(true);
      expect(decode(bytes).value).toEqual(JSON.parse(JSON.stringify(values[i])));
    });
  });

  it('does not let __proto__ keys pollute prototypes', () => {
    const parsed = decode(text('{"__proto__":{"polluted":true},"x":undefined}'.replace(',"x":undefined', ''))).value as Record<string, unknown>;
    expect(({} as Record<string, unknown>).polluted).toBeUndefined();
    const again = decode(encode(parsed, false)).value as Record<string, unknown>;
    expect(({} as Record<string, unknown>).polluted).toBeUndefined();
    expect(Object.getPrototypeOf(again)).toBe(Object.prototype);
  });

  it('throws Invalid for values that cannot be encoded', () => {
    const err = invalidOf(() => encode({ big: 10n }, true));
    expect(err.code).toBe('Invalid');
    expect(err.details.field).toBe('payload');
  });

  it('round-trips typed errors in both formats', () => {
    for (const json of [false, true]) {
      const err = new TenureError('NotLeader', 'not the leader', { leaderId: 'n2' });
      const back = decodeError(encodeError(err, json), json ? JSON_CONTENT_TYPE : undefined, 'NotLeader');
      expect(back).toBeInstanceOf(TenureError);
      expect(back.code).toBe('NotLeader');
      expect(back.message).toBe('not the leader');
      expect(back.details).toEqual({ leaderId: 'n2' });
    }
  });

  it('keeps the header code when an error body is unreadable', () => {
    const back = decodeError(new Uint8Array([0xc1]), undefined, 'Overloaded');
    expect(back.code).toBe('Overloaded');
  });
});
