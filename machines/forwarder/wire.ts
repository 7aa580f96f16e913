/**
 * Wire shapes of the two forwarding transports, and the seam they share with Raft.
 *
 * Facade (request-reply, node-addressed): `tenure.v1.<cluster>.facade.apply.<leaderId>`
 *   request  { commands: LeaseCommand[] (1..maxCommandsPerRequest), budgetMs: number | null,
 *              budgets?: (number | null)[],  — per-command budgets (a follower's coalesced turn);
 *              a command without one gets `budgetMs`
 *              firstCopies?: number[] }  — indices of commands of which no other copy was ever sent
 *              (the leader may answer such a claim `Held` without a log entry)
 *   reply    { outcomes: ({ result: LeaseResult } | { error: { code, message, … } })[] (one per command),
 *              now?: the leader's global time as it answered }
 *   request-level errors (not leader, bad payload) are ordinary typed error replies.
 * Legacy pubsub (Juju 2.9's hub): publish on `….hub.lease.request`
 *   { command, callback: subject, requestId }; the leader publishes
 *   { requestId, result, now? } or { requestId, error } on `callback` (`….hub.lease.callback.<node>`).
 */
import { invalid, isErrorCode, type WireError } from '../../errors/errors.ts';
import { validateToken, type Subjects } from '../../bus/subjects.ts';
import type { LeaseResult } from '../../lease/types.ts';
import type { Role } from '../raft/core.ts';

/** What the forwarders need from a Raft node (RaftNode satisfies it; tests wrap it to stall proposals). */
export interface RaftProposer {
  readonly id: string;
  readonly role: Role;
  readonly leader: string | null;
  /** Resolves with the state machine's result once applied; commands proposed in one microtask share an entry. */
  propose(command: Uint8Array): Promise<unknown>;
  /**
   * A command batch of `count` commands written by the caller (the facade leader), proposed as one
   * entry within `entryLimits`; command k is answered through `at(k, …)`, exactly once.
   */
  proposeEntryAt(entry: Uint8Array, count: number, at: (slot: number, err: Error | null, result?: unknown) => void): void;
  readonly entryLimits: { maxCommands: number; maxBytes: number };
  /** The lease FSM's global time as of now (RaftNode.timeNow): a leader's replies carry it. */
  timeNow?(): number | undefined;
  /** Takes in the leader's time from a reply (RaftNode.heardTime). */
  heardTime?(now: unknown): void;
}

/** The node-addressed facade subject (`….facade.apply.<nodeId>`). */
export function facadeSubject(subj: Subjects, nodeId: string): string {
  return `${subj.facade}.${validateToken('nodeId', nodeId)}`;
}

export interface FacadeApplyRequest {
  commands: unknown[];
  /** Ms the caller still waits, minus a margin for the reply; null = unknown. */
  budgetMs: number | null;
  /** Per-command budgets (ms), same length as `commands`; absent = `budgetMs` for all. */
  budgets?: (number | null)[];
  /** Ascending indices of the commands that are the only copy ever sent (ForwardOptions.firstCopy). */
  firstCopies?: number[];
}

export type FacadeOutcome = { result: LeaseResult } | { error: WireError };

export interface FacadeApplyReply {
  outcomes: FacadeOutcome[];
  /** The leader's global time as the reply left (a follower never counts a holder's time from an older one). */
  now?: number;
}

export function parseFacadeRequest(data: unknown, maxCommands: number): FacadeApplyRequest {
  if (!data || typeof data !== 'object') throw invalid('payload', 'expected { commands, budgetMs }');
  const { commands, budgetMs, budgets, firstCopies } = data as Record<string, unknown>;
  if (!Array.isArray(commands) || commands.length === 0) throw invalid('commands', 'expected a non-empty array');
  if (commands.length > maxCommands) throw invalid('commands', `at most ${maxCommands} per request, got ${commands.length}`);
  if (budgetMs !== undefined && budgetMs !== null && !(typeof budgetMs === 'number' && budgetMs >= 0)) {
    throw invalid('budgetMs', 'expected a number of milliseconds ≥ 0 or null');
  }
  const base = typeof budgetMs === 'number' ? budgetMs : null;
  const req: FacadeApplyRequest = { commands, budgetMs: base };
  if (firstCopies !== undefined && firstCopies !== null) {
    if (!Array.isArray(firstCopies) || firstCopies.length > commands.length) throw invalid('firstCopies', 'expected ascending command indices');
    let last = -1;
    for (const i of firstCopies) {
      if (typeof i !== 'number' || !Number.isSafeInteger(i) || i <= last || i >= commands.length) throw invalid('firstCopies', 'expected ascending command indices');
      last = i;
    }
    req.firstCopies = firstCopies as number[];
  }
  if (budgets === undefined || budgets === null) return req;
  if (!Array.isArray(budgets) || budgets.length !== commands.length) throw invalid('budgets', 'expected one budget per command');
  for (const b of budgets) {
    if (b !== null && !(typeof b === 'number' && b >= 0)) throw invalid('budgets', 'expected numbers of milliseconds ≥ 0 or null');
  }
  req.budgets = budgets as (number | null)[];
  return req;
}

export function parseFacadeReply(data: unknown, expected: number): FacadeOutcome[] | undefined {
  const outcomes = (data as FacadeApplyReply | undefined)?.outcomes;
  if (!Array.isArray(outcomes) || outcomes.length !== expected) return undefined;
  for (const o of outcomes) {
    if (!o || typeof o !== 'object') return undefined;
    if ('error' in o) {
      if (!isErrorCode((o.error as WireError | undefined)?.code)) return undefined;
    } else if (!('result' in o) || !o.result || typeof o.result !== 'object') return undefined;
  }
  return outcomes;
}

export interface HubRequest {
  command: unknown;
  callback: string;
  requestId: string;
}

export type HubResponse = { requestId: string; result: LeaseResult; now?: number } | { requestId: string; error: WireError };

export function parseHubRequest(data: unknown): HubRequest | undefined {
  if (!data || typeof data !== 'object') return undefined;
  const { command, callback, requestId } = data as Record<string, unknown>;
  if (typeof callback !== 'string' || callback === '' || typeof requestId !== 'string' || command === undefined) return undefined;
  return { command, callback, requestId };
}

export function parseHubResponse(data: unknown): HubResponse | undefined {
  if (!data || typeof data !== 'object') return undefined;
  const r = data as Record<string, unknown>;
  if (typeof r.requestId !== 'string') return undefined;
  if (r.error && typeof r.error === 'object' && isErrorCode((r.error as WireError).code)) return r as unknown as HubResponse;
  if (r.result && typeof r.result === 'object') return r as unknown as HubResponse;
  return undefined;
}
