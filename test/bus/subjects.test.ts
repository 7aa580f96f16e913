import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { LEASE_OPS, subjectMatches, subjects, tokenProblem, validateSubject, validateToken } from '../../bus/subjects.ts';
import { TenureError } from '../../errors/errors.ts';

function thrown(fn: () => unknown): TenureError {
  try {
    fn();
  } catch (err) {
    expect(err).toBeInstanceOf(TenureError);
    return err as TenureError;
  }
  throw new Error('expected a throw');
}

describe('subjects', () => {
  const s = subjects('default');

  it('builds the v1 subjects', () => {
    expect(s.prefix).toBe('tenure.v1.default');
    expect(LEASE_OPS.map((op) => s.lease(op))).toEqual(LEASE_OPS.map((op) => `tenure.v1.default.lease.${op}`));
    expect(s.leaseAll).toBe('tenure.v1.default.lease.*');
    expect(s.events('application-leadership', 'm1', 'app1')).toBe('tenure.v1.default.events.application-leadership.m1.app1');
    expect(s.eventsAll()).toBe('tenure.v1.default.events.>');
    expect(s.eventsFor('singular-controller')).toBe('tenure.v1.default.events.singular-controller.>');
    expect(s.eventsFor('ns', 'm')).toBe('tenure.v1.default.events.ns.m.*');
    expect(s.raft('n1', 'append')).toBe('tenure.v1.default.raft.n1.append');
    expect(s.raftAll('n1')).toBe('tenure.v1.default.raft.n1.*');
    expect(s.nodeLease('n1', 'batch')).toBe('tenure.v1.default.node.n1.lease.batch');
    expect(LEASE_OPS.map((op) => s.nodeLease('n2', op))).toEqual(LEASE_OPS.map((op) => `tenure.v1.default.node.n2.lease.${op}`));
    expect(s.nodeLeaseAll('n3')).toBe('tenure.v1.default.node.n3.lease.*');
    expect(s.hub).toBe('tenure.v1.default.hub.lease.request');
    expect(s.hubCallback('n2')).toBe('tenure.v1.default.hub.lease.callback.n2');
    expect(s.facade).toBe('tenure.v1.default.facade.apply');
    expect(s.control('status')).toBe('tenure.v1.default.control.status');
    expect(s.control('transfer', 'n1')).toBe('tenure.v1.default.control.n1.transfer');
  });

  it('rejects bad tokens, naming the field', () => {
    const cases: Array<[() => unknown, string, RegExp]> = [
      [() => subjects(''), 'cluster', /empty/],
      [() => subjects('a.b'), 'cluster', /'\.'/],
      [() => s.events('ns', 'm*', 'l'), 'model', /wildcard/],
      [() => s.events('ns', 'm', 'a>b'), 'lease', /wildcard/],
      [() => s.events('n s', 'm', 'l'), 'namespace', /whitespace/],
      [() => s.events('ns', 'm\t', 'l'), 'model', /whitespace/],
      [() => s.events('ns', 'm', 'l\u0001'), 'lease', /control character U\+0001/],
      [() => s.events('ns', 'm', 'x'.repeat(257)), 'lease', /at most 256/],
      [() => s.raft('', 'append'), 'nodeId', /empty/],
      [() => s.raft('n1', 'a.b'), 'rpc', /'\.'/],
      [() => s.hubCallback('n\u00a0'), 'nodeId', /whitespace/],
      [() => s.control('x y'), 'cmd', /whitespace/],
      [() => s.lease('bogus' as never), 'op', /unknown lease op/],
      [() => s.nodeLease('n1', 'bogus' as never), 'op', /unknown lease op/],
      [() => s.nodeLease('n*', 'get'), 'nodeId', /wildcard/],
      [() => s.nodeLeaseAll('a.b'), 'nodeId', /'\.'/],
      [() => validateToken('holder', 42), 'holder', /string/],
    ];
    for (const [fn, field, why] of cases) {
      const err = thrown(fn);
      expect(err.code).toBe('Invalid');
      expect(err.details.field).toBe(field);
      expect(err.message).toMatch(new RegExp(`^${field}: `));
      expect(err.message).toMatch(why);
    }
  });

  it('accepts ordinary Juju names', () => {
    for (const t of ['application-leadership', 'singular-controller', 'deadbeef-0bad-400d-8000-4b1d0d06f00d', 'app1', 'mysql_1', 'ünïcode']) {
      expect(tokenProblem(t)).toBeUndefined();
    }
  });

  it('the ASCII fast path agrees with the definition for any string', () => {
    const BAD = /[\s\u0000-\u001f\u007f-\u009f.*>]/u;
    const chars = fc.oneof(fc.constantFrom(' ', '.', '*', '>', '\t', '\u007f', '\u0085', '\u00a0', 'a', '-', '~'), fc.string({ unit: 'binary', maxLength: 1 }));
    fc.assert(
      fc.property(fc.array(chars, { minLength: 1, maxLength: 12 }), (parts) => {
        const t = parts.join('');
        if (t.length === 0 || t.length > 256) return;
        expect(tokenProblem(t) === undefined).toBe(!BAD.test(t));
      }),
      { numRuns: 2000 },
    );
  });

  it('matches wildcards the way NATS does', () => {
    expect(subjectMatches('a.*.c', 'a.b.c')).toBe(true);
    expect(subjectMatches('a.*.c', 'a.b.d')).toBe(false);
    expect(subjectMatches('a.*', 'a.b.c')).toBe(false);
    expect(subjectMatches('a.>', 'a.b.c')).toBe(true);
    expect(subjectMatches('a.>', 'a')).toBe(false);
    expect(subjectMatches('>', 'a')).toBe(true);
    expect(subjectMatches('a.b', 'a.b')).toBe(true);
    expect(subjectMatches('a.b', 'a.b.c')).toBe(false);
    expect(subjectMatches(s.eventsAll(), s.events('ns', 'm', 'l'))).toBe(true);
  });

  it('validates whole subjects', () => {
    expect(validateSubject('a.b', false)).toBe('a.b');
    expect(validateSubject('a.*.>', true)).toBe('a.*.>');
    expect(thrown(() => validateSubject('a.*', false)).details.field).toBe('subject');
    expect(thrown(() => validateSubject('a..b', true)).details.field).toBe('subject');
    expect(thrown(() => validateSubject('a.>.b', true)).details.field).toBe('subject');
  });
});
