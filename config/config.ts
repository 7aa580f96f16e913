/**
 * One typed, validated configuration: defaults ← environment ← CLI flags (later wins).
 * An invalid value throws an Error whose message names the variable or flag and says why.
 *
 * | field              | env                          | flag                   | default                 |
 * |--------------------|------------------------------|------------------------|-------------------------|
 * | cluster            | TENURE_CLUSTER               | --cluster              | default                 |
 * | nodeId             | TENURE_NODE_ID               | --node-id              | n1                      |
 * | dataDir            | TENURE_DATA_DIR              | --data-dir             | ./data                  |
 * | natsUrl            | NATS_URL                     | --nats-url             | nats://127.0.0.1:4222   |
 * | logLevel           | TENURE_LOG_LEVEL             | --log-level            | info                    |
 * | transport          | TENURE_TRANSPORT             | --transport            | facade                  |
 * | nodes              | TENURE_NODES (comma list)    | --nodes                | [nodeId]                |
 * | electionTimeoutMs  | TENURE_ELECTION_TIMEOUT_MS   | --election-timeout-ms  | 1000                    |
 * | heartbeatMs        | TENURE_HEARTBEAT_MS          | --heartbeat-ms         | 100                     |
 * | clockIntervalMs    | TENURE_CLOCK_INTERVAL_MS     | --clock-interval-ms    | 1000                    |
 * | clockStampMs       | TENURE_CLOCK_STAMP_MS        | --clock-stamp-ms       | 100 (0 = ticks only)    |
 * | maxPayloadBytes    | TENURE_MAX_PAYLOAD_BYTES     | --max-payload-bytes    | 65536                   |
 * | memoryBudgetMb     | TENURE_MEMORY_BUDGET_MB      | --memory-budget-mb     | 256 (0 = off)           |
 * | events             | TENURE_EVENTS                | --events               | auto                    |
 * | eventsDedupeMs     | TENURE_EVENTS_DEDUPE_MS      | --events-dedupe-ms     | 120000                  |
 *
 * Empty environment values count as unset.
 */
import { DEFAULT_MAX_PAYLOAD_BYTES } from '../bus/types.ts';
import { tokenProblem } from '../bus/subjects.ts';
import { LOG_LEVELS, type LogLevel } from '../log/logger.ts';
import type { EventMode } from '../actors/event-publisher.ts';

export const TRANSPORTS = ['facade', 'legacy-pubsub'] as const;
export type Transport = (typeof TRANSPORTS)[number];

/** Lease-change event publishing (actors/event-publisher.ts): JetStream when available, leader-only, or none. */
export const EVENT_MODES: readonly EventMode[] = ['auto', 'leader', 'off'];

export interface Config {
  /** Raft group / subject namespace: `tenure.v1.<cluster>`. */
  readonly cluster: string;
  /** This node's id (a subject token). */
  readonly nodeId: string;
  /** Where this node keeps its LMDB files. */
  readonly dataDir: string;
  /** NATS server URL(s), comma separated for several. */
  readonly natsUrl: string;
  readonly logLevel: LogLevel;
  /** Which forwarder carries lease commands to the leader. */
  readonly transport: Transport;
  /** Initial voting members (node ids). */
  readonly nodes: readonly string[];
  readonly electionTimeoutMs: number;
  readonly heartbeatMs: number;
  /** How often the leader's clock updater advances global time. */
  readonly clockIntervalMs: number;
  /**
   * Least wall time since global time last advanced for the leader to advance it again ahead of the
   * client commands it proposes (actors/clock-updater.ts, stamps); 0 = only at ticks.
   */
  readonly clockStampMs: number;
  /** Largest client payload accepted; larger requests get `Invalid` (field `payload`). */
  readonly maxPayloadBytes: number;
  /** RSS the node steers toward by collecting garbage sooner (actors/memory-governor.ts); 0 = off. */
  readonly memoryBudgetMb: number;
  /**
   * How lease changes are published on `….events.…`: 'auto' (JetStream dedupe when the server has
   * it, else leader-only), 'leader' (leader-only, never JetStream), 'off' (nothing is published).
   */
  readonly events: EventMode;
  /**
   * JetStream mode: the stream's duplicate window, which must cover the overlap of a deposed
   * leader still publishing and its successor. nats-server keeps an id per stored event for this
   * long (measured ≈ 100 B each: at 23,000 claims/s, 2 min holds ≈ 5.5 M ids).
   */
  readonly eventsDedupeMs: number;
}

/** CLI flags as commander hands them over (camelCase keys; strings or already-parsed values). */
export interface ConfigFlags {
  cluster?: string;
  nodeId?: string;
  dataDir?: string;
  natsUrl?: string;
  logLevel?: string;
  transport?: string;
  nodes?: string | readonly string[];
  electionTimeoutMs?: string | number;
  heartbeatMs?: string | number;
  clockIntervalMs?: string | number;
  clockStampMs?: string | number;
  maxPayloadBytes?: string | number;
  memoryBudgetMb?: string | number;
  events?: string;
  eventsDedupeMs?: string | number;
}

type Key = keyof Config;

const ENV: Record<Key, string> = {
  cluster: 'TENURE_CLUSTER',
  nodeId: 'TENURE_NODE_ID',
  dataDir: 'TENURE_DATA_DIR',
  natsUrl: 'NATS_URL',
  logLevel: 'TENURE_LOG_LEVEL',
  transport: 'TENURE_TRANSPORT',
  nodes: 'TENURE_NODES',
  electionTimeoutMs: 'TENURE_ELECTION_TIMEOUT_MS',
  heartbeatMs: 'TENURE_HEARTBEAT_MS',
  clockIntervalMs: 'TENURE_CLOCK_INTERVAL_MS',
  clockStampMs: 'TENURE_CLOCK_STAMP_MS',
  maxPayloadBytes: 'TENURE_MAX_PAYLOAD_BYTES',
  memoryBudgetMb: 'TENURE_MEMORY_BUDGET_MB',
  events: 'TENURE_EVENTS',
  eventsDedupeMs: 'TENURE_EVENTS_DEDUPE_MS',
};

export const DEFAULTS = Object.freeze({
  cluster: 'default',
  nodeId: 'n1',
  dataDir: './data',
  natsUrl: 'nats://127.0.0.1:4222',
  logLevel: 'info' as LogLevel,
  transport: 'facade' as Transport,
  electionTimeoutMs: 1000,
  heartbeatMs: 100,
  clockIntervalMs: 1000,
  clockStampMs: 100,
  maxPayloadBytes: DEFAULT_MAX_PAYLOAD_BYTES,
  memoryBudgetMb: 256,
  events: 'auto' as EventMode,
  eventsDedupeMs: 120_000,
});

/** Largest payload NATS accepts by default (1 MiB); a bigger limit would only move the failure. */
const NATS_MAX_PAYLOAD = 1024 * 1024;

/** Error thrown for a bad setting; `source` is the variable or flag name. */
export class ConfigError extends Error {
  constructor(
    readonly source: string,
    readonly why: string,
  ) {
    super(`invalid configuration: ${source} ${why}`);
    this.name = 'ConfigError';
  }
}

interface Raw {
  value: unknown;
  /** e.g. `TENURE_NODE_ID` or `--node-id` */
  source: string;
}

export function loadConfig(env: Record<string, string | undefined> = process.env, flags: ConfigFlags = {}): Config {
  const pick = (key: Key): Raw | undefined => {
    const f = (flags as Record<string, unknown>)[key];
    if (f !== undefined && f !== null) return { value: f, source: flagName(key) };
    const e = env[ENV[key]];
    if (e !== undefined && e.trim() !== '') return { value: e, source: ENV[key] };
    return undefined;
  };

  const cluster = token(pick('cluster')) ?? DEFAULTS.cluster;
  const nodeId = token(pick('nodeId')) ?? DEFAULTS.nodeId;
  const dataDir = str(pick('dataDir')) ?? DEFAULTS.dataDir;
  const natsUrl = natsUrls(pick('natsUrl')) ?? DEFAULTS.natsUrl;
  const logLevel = oneOf(pick('logLevel'), LOG_LEVELS) ?? DEFAULTS.logLevel;
  const transport = oneOf(pick('transport'), TRANSPORTS) ?? DEFAULTS.transport;
  const nodes = nodeList(pick('nodes')) ?? [nodeId];
  const electionRaw = pick('electionTimeoutMs');
  const electionTimeoutMs = int(electionRaw, 10, 600_000) ?? DEFAULTS.electionTimeoutMs;
  const heartbeatRaw = pick('heartbeatMs');
  const heartbeatMs = int(heartbeatRaw, 1, 600_000) ?? DEFAULTS.heartbeatMs;
  const clockIntervalMs = int(pick('clockIntervalMs'), 1, 3_600_000) ?? DEFAULTS.clockIntervalMs;
  const clockStampMs = int(pick('clockStampMs'), 0, 3_600_000) ?? DEFAULTS.clockStampMs;
  const maxPayloadBytes = int(pick('maxPayloadBytes'), 256, NATS_MAX_PAYLOAD) ?? DEFAULTS.maxPayloadBytes;
  const memoryBudgetMb = int(pick('memoryBudgetMb'), 0, 1_048_576) ?? DEFAULTS.memoryBudgetMb;
  const events = oneOf(pick('events'), EVENT_MODES) ?? DEFAULTS.events;
  const eventsDedupeMs = int(pick('eventsDedupeMs'), 1_000, 86_400_000) ?? DEFAULTS.eventsDedupeMs;

  if (heartbeatMs >= electionTimeoutMs) {
    const source = heartbeatRaw?.source ?? electionRaw?.source ?? `${ENV.heartbeatMs}/${ENV.electionTimeoutMs}`;
    throw new ConfigError(
      source,
      `heartbeat (${heartbeatMs} ms) must be shorter than the election timeout (${electionTimeoutMs} ms)`,
    );
  }

  return Object.freeze({
    cluster,
    nodeId,
    dataDir,
    natsUrl,
    logLevel,
    transport,
    nodes: Object.freeze(nodes),
    electionTimeoutMs,
    heartbeatMs,
    clockIntervalMs,
    clockStampMs,
    maxPayloadBytes,
    memoryBudgetMb,
    events,
    eventsDedupeMs,
  });
}

/** Settings a launcher passes to each node process by name; the rest travel as flags of their own. */
const PER_NODE: readonly Key[] = ['nodeId', 'nodes', 'natsUrl', 'dataDir', 'cluster'];

/**
 * The environment that reproduces `config` in a child node process (`npm start`), so that flags
 * given to the launcher (`--heartbeat-ms`, `--memory-budget-mb`, …) reach its nodes. Node identity,
 * peers, NATS URL, data dir and cluster are left out: the launcher passes those per node.
 */
export function configEnv(config: Config): Record<string, string> {
  const env: Record<string, string> = {};
  for (const key of Object.keys(ENV) as Key[]) if (!PER_NODE.includes(key)) env[ENV[key]] = String(config[key]);
  return env;
}

/** `nodeId` → `--node-id` */
export function flagName(key: string): string {
  return `--${key.replace(/[A-Z]/g, (c) => `-${c.toLowerCase()}`)}`;
}

function str(raw: Raw | undefined): string | undefined {
  if (!raw) return undefined;
  if (typeof raw.value !== 'string') throw new ConfigError(raw.source, `must be a string, got ${typeof raw.value}`);
  const v = raw.value.trim();
  if (v === '') throw new ConfigError(raw.source, 'must not be empty');
  return v;
}

function token(raw: Raw | undefined): string | undefined {
  const v = str(raw);
  if (v === undefined) return undefined;
  const why = tokenProblem(v);
  if (why) throw new ConfigError(raw!.source, `${why} (it is used as a NATS subject token), got ${JSON.stringify(v)}`);
  return v;
}

function oneOf<T extends string>(raw: Raw | undefined, allowed: readonly T[]): T | undefined {
  const v = str(raw);
  if (v === undefined) return undefined;
  const lower = v.toLowerCase() as T;
  if (!allowed.includes(lower)) throw new ConfigError(raw!.source, `must be one of ${allowed.join(', ')}, got ${JSON.stringify(v)}`);
  return lower;
}

function int(raw: Raw | undefined, min: number, max: number): number | undefined {
  if (!raw) return undefined;
  let n: number;
  if (typeof raw.value === 'number') n = raw.value;
  else if (typeof raw.value === 'string' && /^\s*\d+\s*$/.test(raw.value)) n = Number(raw.value);
  else throw new ConfigError(raw.source, `must be a whole number, got ${JSON.stringify(raw.value)}`);
  if (!Number.isSafeInteger(n)) throw new ConfigError(raw.source, `must be a whole number, got ${n}`);
  if (n < min || n > max) throw new ConfigError(raw.source, `must be between ${min} and ${max}, got ${n}`);
  return n;
}

function nodeList(raw: Raw | undefined): string[] | undefined {
  if (!raw) return undefined;
  let items: unknown[];
  if (typeof raw.value === 'string') items = raw.value.split(',');
  else if (Array.isArray(raw.value)) items = raw.value.flatMap((v) => (typeof v === 'string' ? v.split(',') : [v]));
  else throw new ConfigError(raw.source, `must be a comma-separated list of node ids, got ${typeof raw.value}`);
  const ids: string[] = [];
  for (const item of items) {
    if (typeof item !== 'string') throw new ConfigError(raw.source, `node ids must be strings, got ${typeof item}`);
    const id = item.trim();
    if (id === '') continue;
    const why = tokenProblem(id);
    if (why) throw new ConfigError(raw.source, `node id ${JSON.stringify(id)} ${why}`);
    if (ids.includes(id)) throw new ConfigError(raw.source, `lists node id ${JSON.stringify(id)} twice`);
    ids.push(id);
  }
  if (ids.length === 0) throw new ConfigError(raw.source, 'must list at least one node id');
  return ids;
}

function natsUrls(raw: Raw | undefined): string | undefined {
  const v = str(raw);
  if (v === undefined) return undefined;
  const parts = v.split(',').map((s) => s.trim()).filter((s) => s !== '');
  for (const p of parts) {
    const withScheme = /^[a-z][a-z0-9+.-]*:\/\//i.test(p) ? p : `nats://${p}`;
    let url: URL;
    try {
      url = new URL(withScheme);
    } catch {
      throw new ConfigError(raw!.source, `is not a valid URL: ${JSON.stringify(p)}`);
    }
    if (!['nats:', 'tls:'].includes(url.protocol)) {
      throw new ConfigError(raw!.source, `has unsupported scheme ${JSON.stringify(url.protocol)} in ${JSON.stringify(p)} (use nats:// or tls://)`);
    }
    if (!url.hostname) throw new ConfigError(raw!.source, `has no host in ${JSON.stringify(p)}`);
  }
  if (parts.length === 0) throw new ConfigError(raw!.source, 'must not be empty');
  return parts.join(',');
}
