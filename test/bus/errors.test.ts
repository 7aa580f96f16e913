import { describe, expect, it } from 'vitest';
import { ERROR_CODES, invalid, isErrorCode, TenureError, toTenureError } from '../../errors/errors.ts';
import { decode, encode } from '../../bus/codec.ts';

describe('errors on the wire', () => {
  it('round-trips every code with its details through both encodings', () => {
    for (const code of ERROR_CODES) {
      for (const json of [false, true]) {
        const err = new TenureError(code, `${code} happened`, { retryAfterMs: 250, leaderId: 'n3' });
        const wire = decode(encode(err.toWire(), json)).value;
        expect(wire).toEqual({ code, message: `${code} happened`, retryAfterMs: 250, leaderId: 'n3' });
        const back = TenureError.fromWire(wire);
        expect(back.code).toBe(code);
        expect(back.message).toBe(`${code} happened`);
        expect(back.details).toEqual({ retryAfterMs: 250, leaderId: 'n3' });
        expect(back.name).toBe(code);
      }
    }
  });

  it('does not let details override code or message', () => {
    const err = new TenureError('Held', 'held by app1/0', { code: 'Internal', message: 'nope', holder: 'app1/0' });
    const wire = err.toWire();
    expect(wire.code).toBe('Held');
    expect(wire.message).toBe('held by app1/0');
  });

  it('maps malformed replies to Internal', () => {
    expect(TenureError.fromWire({ code: 'Bogus', message: 'x' }).code).toBe('Internal');
    expect(TenureError.fromWire('oops').code).toBe('Internal');
    expect(TenureError.fromWire(null).code).toBe('Internal');
  });

  it('invalid() names the field; toTenureError wraps foreign errors', () => {
    const e = invalid('holder', 'must not be empty');
    expect(e.code).toBe('Invalid');
    expect(e.details).toEqual({ field: 'holder' });
    expect(e.message).toContain('holder');
    expect(toTenureError(new RangeError('boom')).code).toBe('Internal');
    expect(toTenureError(e)).toBe(e);
    expect(isErrorCode('NoResponders')).toBe(true);
    expect(isErrorCode('nope')).toBe(false);
  });
});
