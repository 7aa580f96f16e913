/**
 * Priority lanes of the leader's admission queue, highest first. The order is the Juju lesson
 * (seed: juju-raft-api-leases part II): the global clock must never starve behind lease traffic,
 * the singular controller lease must not queue behind thousands of unit extensions, and an
 * extension is worth more than a claim because a lost extension causes a leadership change,
 * which is more load. Revokes free leases (they end contention), pins/unpins are rare operator
 * actions that protect leases through upgrades: both ride in the revoke lane, above claims.
 */
import type { LeaseCommand } from '../../lease/types.ts';

export const LANES = ['clock', 'singular', 'extend', 'revoke', 'claim'] as const;
export type Lane = (typeof LANES)[number];

/** Namespace of the controller-singleton lease (Juju's `singular-controller`). */
export const SINGULAR_NAMESPACE = 'singular-controller';

export function laneOf(cmd: LeaseCommand): Lane {
  if (cmd.op === 'setTime') return 'clock';
  if (cmd.key.namespace === SINGULAR_NAMESPACE) return 'singular';
  switch (cmd.op) {
    case 'extend':
      return 'extend';
    case 'claim':
      return 'claim';
    default:
      return 'revoke'; // revoke, pin, unpin
  }
}

export interface LaneLimits {
  /** Most commands this lane holds; a full lane refuses with Overloaded. */
  capacity: number;
  /**
   * The lane admits only while the queue's load (queued client commands, all lanes but clock) is
   * below this mark; Infinity = never shed by load (still bounded by `capacity`).
   */
  admitBelowLoad: number;
}

export interface AdmissionConfig {
  lanes: Record<Lane, LaneLimits>;
  /** Bytes of encoded commands the client lanes may hold (the clock lane is not counted). */
  maxQueuedBytes: number;
  /**
   * Hysteresis: a lane that started shedding reopens only once load falls below
   * `admitBelowLoad * resumeFraction`, so it does not flap at the mark.
   */
  resumeFraction: number;
  /** One dequeued batch (one Raft entry) holds at most this many commands… */
  maxBatchCommands: number;
  /** …and at most this many bytes of encoded commands (at least one command whatever its size). */
  maxBatchBytes: number;
  /** Window over which the drain rate (commands leaving the queue per second) is measured. */
  rateWindowMs: number;
  /** Bounds of the retry-after hint sent with Overloaded. */
  minRetryAfterMs: number;
  maxRetryAfterMs: number;
}

/**
 * Defaults, sized for a leader that commits in the order of 10–50k commands/s in batches:
 * claims shed at 2048 queued commands (~0.1 s of work), revokes at 4096, extends at 8192, so the
 * queue holds at most 8192 + 1024 (singular) + 16 (clock) commands, a few MB. Every bound is a
 * refusal with Overloaded + retry-after, never a silent drop.
 */
export const DEFAULT_ADMISSION: Readonly<AdmissionConfig> = Object.freeze({
  lanes: Object.freeze({
    // The clock updater has at most one setTime outstanding; 16 only guards against a runaway one.
    clock: Object.freeze({ capacity: 16, admitBelowLoad: Infinity }),
    singular: Object.freeze({ capacity: 1024, admitBelowLoad: Infinity }),
    extend: Object.freeze({ capacity: 8192, admitBelowLoad: 8192 }),
    revoke: Object.freeze({ capacity: 2048, admitBelowLoad: 4096 }),
    claim: Object.freeze({ capacity: 4096, admitBelowLoad: 2048 }),
  }),
  maxQueuedBytes: 8 * 1024 * 1024,
  resumeFraction: 0.75,
  maxBatchCommands: 1024,
  maxBatchBytes: 192 * 1024,
  rateWindowMs: 1000,
  minRetryAfterMs: 10,
  maxRetryAfterMs: 5000,
}) as AdmissionConfig;

/** Defaults overlaid with `overrides` (lanes merge per lane and per field); throws on nonsense. */
export function admissionConfig(overrides: AdmissionOverrides = {}): AdmissionConfig {
  const lanes = {} as Record<Lane, LaneLimits>;
  for (const lane of LANES) lanes[lane] = { ...DEFAULT_ADMISSION.lanes[lane], ...overrides.lanes?.[lane] };
  const { lanes: _ignored, ...rest } = overrides;
  const config: AdmissionConfig = { ...DEFAULT_ADMISSION, ...rest, lanes };
  for (const lane of LANES) {
    const l = config.lanes[lane];
    if (!(Number.isInteger(l.capacity) && l.capacity >= 1)) throw new Error(`admission: lanes.${lane}.capacity must be a whole number ≥ 1`);
    if (!(l.admitBelowLoad >= 1)) throw new Error(`admission: lanes.${lane}.admitBelowLoad must be ≥ 1`);
  }
  if (!(config.resumeFraction > 0 && config.resumeFraction <= 1)) throw new Error('admission: resumeFraction must be in (0, 1]');
  if (!(config.maxBatchCommands >= 1 && config.maxBatchBytes >= 1 && config.maxQueuedBytes >= 1)) {
    throw new Error('admission: batch and byte bounds must be ≥ 1');
  }
  if (!(config.rateWindowMs >= 10)) throw new Error('admission: rateWindowMs must be ≥ 10');
  if (!(config.minRetryAfterMs >= 1 && config.maxRetryAfterMs >= config.minRetryAfterMs)) {
    throw new Error('admission: need 1 ≤ minRetryAfterMs ≤ maxRetryAfterMs');
  }
  return config;
}

export type AdmissionOverrides = Partial<Omit<AdmissionConfig, 'lanes'>> & { lanes?: Partial<Record<Lane, Partial<LaneLimits>>> };
