import { resolve } from 'node:path';
import { spawnSync } from 'node:child_process';
import type { ConfigFlags } from '../config/config.ts';
import { configEnv, loadConfig } from '../config/config.ts';
import { subjects } from '../bus/subjects.ts';
import { startNatsServer, type NatsServerHandle } from './nats-server.ts';
import { NodeProcess } from './node-processes.ts';
import { InspectServer } from './inspect-server.ts';
import { NatsBus } from '../bus/nats-bus.ts';
import { silentLogger } from '../log/logger.ts';

/**
 * `npm start`: a local cluster of node processes, with a nats-server of its own (JetStream on, free
 * port) unless NATS_URL / --nats-url names one. Ctrl-C stops every process it started.
 */
export async function startLocalCluster(flags: ConfigFlags & { size: string; inspect?: string | boolean }): Promise<void> {
  const size = Number(flags.size);
  if (!Number.isInteger(size) || size < 1 || size > 9) throw new Error(`--size: expected 1..9, got ${flags.size}`);
  const ids = Array.from({ length: size }, (_, i) => `n${i + 1}`);
  const external = flags.natsUrl ?? process.env.NATS_URL;
  let server: NatsServerHandle | null = null;
  if (!external) {
    const bin = process.env.NATS_SERVER_BIN || 'nats-server';
    if (spawnSync(bin, ['--version']).error) {
      console.error(
        `npm start needs nats-server (${bin} was not found). Install it with \`apt-get install -y nats-server\` ` +
          '(Debian/Ubuntu) or `brew install nats-server` (macOS), set NATS_SERVER_BIN to its path, or run ' +
          '`docker compose up nats` and start with NATS_URL=nats://127.0.0.1:4222 npm start.',
      );
      process.exit(1);
    }
    server = await startNatsServer({ jetstream: true });
  }
  const natsUrl = external ?? server!.url;
  const config = loadConfig(process.env, { ...flags, natsUrl, nodes: ids });
  const dataDir = resolve(config.dataDir);
  const env: Record<string, string> = { ...configEnv(config), ...(flags.inspect ? { TENURE_INSPECT: '1' } : {}) };
  const nodes = ids.map((id) => new NodeProcess({ id, nodes: ids, natsUrl, dataDir, cluster: config.cluster, env }));
  let inspector: InspectServer | null = null;
  let inspectBus: NatsBus | null = null;

  let stopping = false;
  const stopAll = async (code: number) => {
    if (stopping) return;
    stopping = true;
    console.log('\nstopping…');
    await Promise.all(nodes.map((n) => n.stop()));
    await inspector?.close();
    await inspectBus?.close();
    await server?.stop();
    process.exit(code);
  };
  process.on('SIGINT', () => void stopAll(0));
  process.on('SIGTERM', () => void stopAll(0));

  try {
    await Promise.all(nodes.map((n) => n.start()));
  } catch (err) {
    console.error((err as Error).message);
    await stopAll(1);
    return;
  }
  const s = subjects(config.cluster);
  console.log(`Tenure cluster "${config.cluster}" is up: ${ids.join(', ')}`);
  console.log(`  NATS:     ${natsUrl}${server ? ' (started by tenure, JetStream on)' : ''}`);
  console.log(`  data:     ${dataDir}`);
  console.log(`  requests: ${s.prefix}.lease.{claim,extend,revoke,pin,unpin,get,list,wait,status}`);
  console.log(`  events:   ${s.eventsAll()}`);
  console.log(`  try:      nats --server ${natsUrl} req ${s.lease('status')} '{}'`);
  if (flags.inspect) {
    inspectBus = await NatsBus.connect(natsUrl, { name: 'tenure-inspect', logger: silentLogger });
    inspector = new InspectServer(inspectBus, config.cluster);
    const port = typeof flags.inspect === 'string' ? Number(flags.inspect) : 8321;
    console.log(`  inspect:  ${await inspector.listen(port)} (live statecharts)`);
  }
  console.log('Ctrl-C stops every process.');
}
