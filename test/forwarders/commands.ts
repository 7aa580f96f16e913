/** Lease commands for forwarder tests: each has its own client id, so dedupe never merges two. */
import type { ClaimCommand, ExtendCommand, LeaseCommand, RevokeCommand, SetTimeCommand } from '../../lease/types.ts';

let next = 0;
const client = (tag: string) => ({ clientId: `${tag}-${++next}`, seq: 1 });
const key = (lease: string, namespace = 'application-leadership') => ({ namespace, model: 'm1', lease });

export const HOUR = 3_600_000;

export function claim(lease: string, holder = `${lease}/0`, namespace?: string): ClaimCommand {
  return { op: 'claim', key: key(lease, namespace), holder, durationMs: HOUR, ...client('claim') };
}

export function extend(lease: string, holder = `${lease}/0`, namespace?: string): ExtendCommand {
  return { op: 'extend', key: key(lease, namespace), holder, durationMs: HOUR, ...client('extend') };
}

export function revoke(lease: string, holder = `${lease}/0`): RevokeCommand {
  return { op: 'revoke', key: key(lease), holder, ...client('revoke') };
}

export function pin(lease: string): LeaseCommand {
  return { op: 'pin', key: key(lease), entity: 'upgrade', ...client('pin') };
}

export function setTime(oldTime: number, newTime: number): SetTimeCommand {
  return { op: 'setTime', oldTime, newTime, ...client('clock') };
}
