/**
 * NATS subjects (v1). Everything lives under `tenure.v1.<cluster>`; the `<cluster>` token is what lets
 * several Raft groups share one NATS deployment, so nothing may assume it is the only group on the bus.
 *
 *   tenure.v1.<cluster>.lease.<op>                         client API (queue group on every node)
 *   tenure.v1.<cluster>.node.<node>.lease.<op>             the client API addressed to one node (client/routes.ts)
 *   tenure.v1.<cluster>.events.<namespace>.<model>.<lease> lease changes (JSON by default)
 *   tenure.v1.<cluster>.raft.<node>.<rpc>                  Raft RPCs addressed to <node>
 *   tenure.v1.<cluster>.hub.lease.request                  legacy pubsub forwarding (to the leader)
 *   tenure.v1.<cluster>.hub.lease.callback.<node>          legacy pubsub results (back to <node>)
 *   tenure.v1.<cluster>.facade.apply                       facade forwarding (request-reply to the leader)
 *   tenure.v1.<cluster>.control.<cmd>                      cluster-wide operator commands
 *   tenure.v1.<cluster>.control.<node>.<cmd>               operator commands for one node
 *
 * Every token is validated: non-empty, at most 256 characters, no `.`, `*`, `>`, whitespace or
 * control characters. A bad token throws `Invalid` naming the field.
 */
import { invalid } from '../errors/errors.ts';

export const SUBJECT_ROOT = 'tenure.v1';

export const LEASE_OPS = ['claim', 'extend', 'revoke', 'pin', 'unpin', 'batch', 'get', 'list', 'wait', 'status'] as const;
export type LeaseOp = (typeof LEASE_OPS)[number];

export const MAX_TOKEN_LENGTH = 256;

// Whitespace (any Unicode space), C0/C1 control characters, and NATS's special characters.
const BAD_CHAR = /[\s\u0000-\u001f\u007f-\u009f.*>]/u;

/**
 * True when every character is printable ASCII other than space, `.`, `*` and `>`: the common
 * case, a valid token without running BAD_CHAR (which stays the definition). False says only
 * "look closer".
 */
export function plainToken(s: string): boolean {
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c <= 0x20 || c > 0x7e || c === 0x2e || c === 0x2a || c === 0x3e) return false;
  }
  return true;
}

/** Why `token` is not a valid subject token, or undefined if it is. */
export function tokenProblem(token: unknown): string | undefined {
  if (typeof token !== 'string') return `must be a string, got ${token === null ? 'null' : typeof token}`;
  if (token.length === 0) return 'must not be empty';
  if (token.length > MAX_TOKEN_LENGTH) return `must be at most ${MAX_TOKEN_LENGTH} characters, got ${token.length}`;
  // Every event published builds its subject from three tokens: the regex was ≈ 0.3 µs of each.
  if (plainToken(token)) return undefined;
  const m = BAD_CHAR.exec(token);
  if (m) {
    const ch = m[0];
    if (ch === '.') return "must not contain '.'";
    if (ch === '*' || ch === '>') return `must not contain the NATS wildcard '${ch}'`;
    if (/\s/u.test(ch)) return 'must not contain whitespace';
    return `must not contain control character U+${ch.codePointAt(0)!.toString(16).padStart(4, '0').toUpperCase()}`;
  }
  return undefined;
}

/** Returns `token` if it is a valid subject token, else throws `Invalid` naming `field`. */
export function validateToken(field: string, token: unknown): string {
  const why = tokenProblem(token);
  if (why !== undefined) throw invalid(field, why);
  return token as string;
}

export function isLeaseOp(op: unknown): op is LeaseOp {
  return typeof op === 'string' && (LEASE_OPS as readonly string[]).includes(op);
}

export interface Subjects {
  readonly cluster: string;
  /** `tenure.v1.<cluster>` */
  readonly prefix: string;
  /** `….lease.<op>` */
  lease(op: LeaseOp): string;
  /** `….lease.*` (every lease op; for monitoring) */
  readonly leaseAll: string;
  /** `….node.<nodeId>.lease.<op>`: a request addressed to one node (client/routes.ts). */
  nodeLease(nodeId: string, op: LeaseOp): string;
  /** `….node.<nodeId>.lease.*`: every op addressed to one node (what that node serves). */
  nodeLeaseAll(nodeId: string): string;
  /** `….events.<namespace>.<model>.<lease>` */
  events(namespace: string, model: string, lease: string): string;
  /** `….events.>` */
  eventsAll(): string;
  /** `….events.<namespace>.>` or `….events.<namespace>.<model>.*` */
  eventsFor(namespace: string, model?: string): string;
  /** `….raft.<nodeId>.<rpc>` */
  raft(nodeId: string, rpc: string): string;
  /** `….raft.<nodeId>.*` (every RPC addressed to one node) */
  raftAll(nodeId: string): string;
  /** `….hub.lease.request` (legacy pubsub forwarding) */
  readonly hub: string;
  /** `….hub.lease.callback.<nodeId>` (legacy pubsub results for one node) */
  hubCallback(nodeId: string): string;
  /** `….facade.apply` */
  readonly facade: string;
  /** `….control.<cmd>` or, with a node id, `….control.<nodeId>.<cmd>` */
  control(cmd: string, nodeId?: string): string;
}

/** Subject builders for one cluster. Throws `Invalid` (field `cluster`) for a bad cluster name. */
export function subjects(cluster: string): Subjects {
  validateToken('cluster', cluster);
  const prefix = `${SUBJECT_ROOT}.${cluster}`;
  const leaseSubjects = new Map<string, string>(LEASE_OPS.map((op) => [op, `${prefix}.lease.${op}`]));
  return Object.freeze({
    cluster,
    prefix,
    lease(op: LeaseOp): string {
      const s = leaseSubjects.get(op);
      if (s === undefined) throw invalid('op', `unknown lease op ${JSON.stringify(op)} (expected one of ${LEASE_OPS.join(', ')})`);
      return s;
    },
    leaseAll: `${prefix}.lease.*`,
    nodeLease(nodeId: string, op: LeaseOp): string {
      validateToken('nodeId', nodeId);
      if (!isLeaseOp(op)) throw invalid('op', `unknown lease op ${JSON.stringify(op)} (expected one of ${LEASE_OPS.join(', ')})`);
      return `${prefix}.node.${nodeId}.lease.${op}`;
    },
    nodeLeaseAll(nodeId: string): string {
      validateToken('nodeId', nodeId);
      return `${prefix}.node.${nodeId}.lease.*`;
    },
    events(namespace: string, model: string, lease: string): string {
      validateToken('namespace', namespace);
      validateToken('model', model);
      validateToken('lease', lease);
      return `${prefix}.events.${namespace}.${model}.${lease}`;
    },
    eventsAll(): string {
      return `${prefix}.events.>`;
    },
    eventsFor(namespace: string, model?: string): string {
      validateToken('namespace', namespace);
      if (model === undefined) return `${prefix}.events.${namespace}.>`;
      validateToken('model', model);
      return `${prefix}.events.${namespace}.${model}.*`;
    },
    raft(nodeId: string, rpc: string): string {
      validateToken('nodeId', nodeId);
      validateToken('rpc', rpc);
      return `${prefix}.raft.${nodeId}.${rpc}`;
    },
    raftAll(nodeId: string): string {
      validateToken('nodeId', nodeId);
      return `${prefix}.raft.${nodeId}.*`;
    },
    hub: `${prefix}.hub.lease.request`,
    hubCallback(nodeId: string): string {
      validateToken('nodeId', nodeId);
      return `${prefix}.hub.lease.callback.${nodeId}`;
    },
    facade: `${prefix}.facade.apply`,
    control(cmd: string, nodeId?: string): string {
      validateToken('cmd', cmd);
      if (nodeId === undefined) return `${prefix}.control.${cmd}`;
      validateToken('nodeId', nodeId);
      return `${prefix}.control.${nodeId}.${cmd}`;
    },
  });
}

/**
 * NATS subject matching: `*` matches exactly one token, `>` (last token only) one or more.
 * `subject` is a concrete subject (no wildcards).
 */
export function subjectMatches(pattern: string, subject: string): boolean {
  if (pattern === subject) return true;
  const p = pattern.split('.');
  const s = subject.split('.');
  for (let i = 0; i < p.length; i++) {
    const t = p[i];
    if (t === '>') return i === p.length - 1 && s.length > i;
    if (i >= s.length) return false;
    if (t !== '*' && t !== s[i]) return false;
  }
  return p.length === s.length;
}

/** Throws `Invalid` (field `subject`) unless `subject` is a well-formed subject; wildcards only if allowed. */
export function validateSubject(subject: unknown, allowWildcards: boolean, field = 'subject'): string {
  if (typeof subject !== 'string' || subject.length === 0) throw invalid(field, 'must be a non-empty string');
  const tokens = subject.split('.');
  for (let i = 0; i < tokens.length; i++) {
    const t = tokens[i];
    if (allowWildcards && (t === '*' || (t === '>' && i === tokens.length - 1))) continue;
    if (t === '' || /[\s\u0000-\u001f\u007f*>]/u.test(t)) {
      throw invalid(field, `${JSON.stringify(subject)} is not a valid ${allowWildcards ? 'subscription ' : ''}subject (token ${i + 1})`);
    }
  }
  return subject;
}
