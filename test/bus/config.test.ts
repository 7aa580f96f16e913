// Config and logger tests live here for now (test/config/ and test/log/ may take them later).
import { Writable } from 'node:stream';
import { describe, expect, it } from 'vitest';
import { ConfigError, DEFAULTS, configEnv, flagName, loadConfig } from '../../config/config.ts';
import { childLogger, createLogger, silentLogger } from '../../log/logger.ts';

function configError(fn: () => unknown): ConfigError {
  try {
    fn();
  } catch (err) {
    expect(err).toBeInstanceOf(ConfigError);
    return err as ConfigError;
  }
  throw new Error('expected a ConfigError');
}

describe('config', () => {
  it('has sensible defaults', () => {
    expect(loadConfig({}, {})).toEqual({
      cluster: 'default',
      nodeId: 'n1',
      dataDir: './data',
      natsUrl: 'nats://127.0.0.1:4222',
      logLevel: 'info',
      transport: 'facade',
      nodes: ['n1'],
      electionTimeoutMs: DEFAULTS.electionTimeoutMs,
      heartbeatMs: DEFAULTS.heartbeatMs,
      clockIntervalMs: 1000,
      clockStampMs: 100,
      maxPayloadBytes: 65536,
      memoryBudgetMb: 256,
      events: 'auto',
      eventsDedupeMs: 120_000,
    });
  });

  it('reads the environment, and flags win over it', () => {
    const env = {
      TENURE_CLUSTER: 'prod',
      TENURE_NODE_ID: 'n2',
      TENURE_DATA_DIR: '/var/lib/tenure',
      NATS_URL: 'nats://10.0.0.1:4222,10.0.0.2:4222',
      TENURE_LOG_LEVEL: 'DEBUG',
      TENURE_TRANSPORT: 'legacy-pubsub',
      TENURE_NODES: 'n1, n2 ,n3',
      TENURE_ELECTION_TIMEOUT_MS: '1500',
      TENURE_HEARTBEAT_MS: '150',
      TENURE_CLOCK_INTERVAL_MS: '500',
      TENURE_CLOCK_STAMP_MS: '0',
      TENURE_MAX_PAYLOAD_BYTES: '131072',
      TENURE_MEMORY_BUDGET_MB: '0',
      TENURE_EVENTS: 'Off',
      TENURE_EVENTS_DEDUPE_MS: '10000',
      TENURE_UNRELATED: 'x',
    };
    const fromEnv = loadConfig(env, {});
    expect(fromEnv).toMatchObject({
      cluster: 'prod',
      nodeId: 'n2',
      dataDir: '/var/lib/tenure',
      natsUrl: 'nats://10.0.0.1:4222,10.0.0.2:4222',
      logLevel: 'debug',
      transport: 'legacy-pubsub',
      nodes: ['n1', 'n2', 'n3'],
      electionTimeoutMs: 1500,
      heartbeatMs: 150,
      clockIntervalMs: 500,
      clockStampMs: 0,
      maxPayloadBytes: 131072,
      memoryBudgetMb: 0,
      events: 'off',
      eventsDedupeMs: 10_000,
    });
    const withFlags = loadConfig(env, { nodeId: 'n3', transport: 'facade', electionTimeoutMs: 2000, nodes: ['a', 'b'], events: 'leader' });
    expect(withFlags).toMatchObject({ nodeId: 'n3', transport: 'facade', electionTimeoutMs: 2000, nodes: ['a', 'b'], cluster: 'prod', events: 'leader' });
    expect(Object.isFrozen(withFlags)).toBe(true);
  });

  it('treats empty environment values as unset', () => {
    expect(loadConfig({ TENURE_NODE_ID: '', TENURE_HEARTBEAT_MS: '  ' }, {}).nodeId).toBe('n1');
  });

  it('names the variable or flag and says why', () => {
    const cases: Array<[Record<string, string>, Record<string, unknown>, string, RegExp]> = [
      [{ TENURE_ELECTION_TIMEOUT_MS: 'soon' }, {}, 'TENURE_ELECTION_TIMEOUT_MS', /whole number/],
      [{}, { electionTimeoutMs: '-5' }, '--election-timeout-ms', /whole number/],
      [{ TENURE_HEARTBEAT_MS: '0' }, {}, 'TENURE_HEARTBEAT_MS', /between 1 and/],
      [{ TENURE_HEARTBEAT_MS: '2000' }, {}, 'TENURE_HEARTBEAT_MS', /shorter than the election timeout/],
      [{ TENURE_TRANSPORT: 'carrier-pigeon' }, {}, 'TENURE_TRANSPORT', /one of facade, legacy-pubsub/],
      [{}, { logLevel: 'loud' }, '--log-level', /one of fatal, error/],
      [{ TENURE_CLUSTER: 'a.b' }, {}, 'TENURE_CLUSTER', /'\.'/],
      [{}, { nodeId: 'n 1' }, '--node-id', /whitespace/],
      [{ TENURE_NODES: 'n1,n1' }, {}, 'TENURE_NODES', /twice/],
      [{ TENURE_NODES: 'n1,n*' }, {}, 'TENURE_NODES', /wildcard/],
      [{ TENURE_NODES: ' , ' }, {}, 'TENURE_NODES', /at least one/],
      [{ NATS_URL: 'http://x:1' }, {}, 'NATS_URL', /unsupported scheme/],
      [{ TENURE_MAX_PAYLOAD_BYTES: '99999999' }, {}, 'TENURE_MAX_PAYLOAD_BYTES', /between/],
      [{ TENURE_CLOCK_INTERVAL_MS: '1.5' }, {}, 'TENURE_CLOCK_INTERVAL_MS', /whole number/],
      [{ TENURE_CLOCK_STAMP_MS: '-1' }, {}, 'TENURE_CLOCK_STAMP_MS', /whole number|between 0 and/],
      [{ TENURE_MEMORY_BUDGET_MB: 'lots' }, {}, 'TENURE_MEMORY_BUDGET_MB', /whole number/],
      [{}, { memoryBudgetMb: 2_000_000 }, '--memory-budget-mb', /between 0 and/],
      [{ TENURE_EVENTS: 'sometimes' }, {}, 'TENURE_EVENTS', /one of auto, leader, off/],
      [{}, { events: 'jetstream' }, '--events', /one of auto, leader, off/],
      [{ TENURE_EVENTS_DEDUPE_MS: '500' }, {}, 'TENURE_EVENTS_DEDUPE_MS', /between 1000 and/],
    ];
    for (const [env, flags, source, why] of cases) {
      const err = configError(() => loadConfig(env, flags));
      expect(err.source).toBe(source);
      expect(err.message).toContain(source);
      expect(err.message).toMatch(why);
    }
  });

  it('a launcher hands its settings to node processes through the environment', () => {
    const launcher = loadConfig({ TENURE_LOG_LEVEL: 'debug' }, { heartbeatMs: 40, electionTimeoutMs: 400, memoryBudgetMb: 512, transport: 'legacy-pubsub', events: 'off', eventsDedupeMs: 30_000, cluster: 'c1', nodeId: 'n1' });
    const env = configEnv(launcher);
    expect(env).not.toHaveProperty('TENURE_NODE_ID');
    expect(env).not.toHaveProperty('TENURE_CLUSTER');
    expect(loadConfig(env, { nodeId: 'n2', cluster: 'c1' })).toMatchObject({ heartbeatMs: 40, electionTimeoutMs: 400, memoryBudgetMb: 512, transport: 'legacy-pubsub', events: 'off', eventsDedupeMs: 30_000, logLevel: 'debug', nodeId: 'n2' });
  });

  it('spells flags the way the CLI does', () => {
    expect(flagName('electionTimeoutMs')).toBe('--election-timeout-ms');
    expect(flagName('nodeId')).toBe('--node-id');
  });
});

describe('logger', () => {
  it('writes JSON lines with component and id, respecting the level', () => {
    const lines: string[] = [];
    const sink = new Writable({
      write(chunk, _enc, cb) {
        lines.push(...String(chunk).split('\n').filter(Boolean));
        cb();
      },
    });
    const root = createLogger({ level: 'info', destination: sink });
    const log = childLogger('raft', 'n1', root);
    log.debug('hidden');
    log.info({ term: 3 }, 'became leader');
    expect(lines).toHaveLength(1);
    expect(JSON.parse(lines[0])).toMatchObject({ level: 'info', component: 'raft', id: 'n1', term: 3, msg: 'became leader' });
  });

  it('has a silent logger for tests', () => {
    expect(silentLogger.level).toBe('silent');
    expect(() => silentLogger.error('nothing')).not.toThrow();
  });
});
