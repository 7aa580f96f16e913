import { Command } from 'commander';
import { loadConfig, ConfigError, type ConfigFlags } from '../config/config.ts';
import { runNode } from './run-node.ts';
import { startLocalCluster } from './local-cluster.ts';
import { InspectServer } from './inspect-server.ts';
import { NatsBus } from '../bus/nats-bus.ts';
import { silentLogger } from '../log/logger.ts';
import { registerBenchCommand } from '../bench/command.ts';

/** The `tenure` command: `start` (local 3-node cluster), `node` (one node process). */
const program = new Command().name('tenure').description('Raft-backed lease and leadership service on NATS');

const nodeFlags = (cmd: Command) =>
  cmd
    .option('--cluster <name>', 'cluster name (subject token)')
    .option('--node-id <id>', 'this node id')
    .option('--nodes <ids>', 'initial voters, comma separated')
    .option('--data-dir <dir>', 'data directory')
    .option('--nats-url <url>', 'NATS server URL(s)')
    .option('--log-level <level>', 'fatal|error|warn|info|debug|trace|silent')
    .option('--transport <name>', 'facade | legacy-pubsub')
    .option('--election-timeout-ms <ms>')
    .option('--heartbeat-ms <ms>')
    .option('--clock-interval-ms <ms>')
    .option('--clock-stamp-ms <ms>', 'advance global time ahead of client writes once this long has passed (0 = only at ticks)')
    .option('--memory-budget-mb <mb>', 'RSS the node steers toward by collecting garbage sooner (0 = off)')
    .option('--events <mode>', 'lease-change events: auto (JetStream when available) | leader | off')
    .option('--events-dedupe-ms <ms>', "JetStream mode: the event stream's duplicate window");

nodeFlags(program.command('node').description('run one Tenure node')).action(async (flags: ConfigFlags) => {
  await runNode(loadConfig(process.env, flags));
});

nodeFlags(program.command('start').description('start a local 3-node cluster (and a nats-server unless NATS_URL is set)'))
  .option('--size <n>', 'number of nodes', '3')
  .option('--inspect [port]', 'also serve the live statechart inspector (default port 8321)')
  .action(async (flags: ConfigFlags & { size: string; inspect?: string | boolean }) => {
    await startLocalCluster(flags);
  });

program
  .command('inspect')
  .description('serve a live view of every node statechart in a browser (nodes need TENURE_INSPECT=1)')
  .option('--cluster <name>', 'cluster name', process.env.TENURE_CLUSTER ?? 'default')
  .option('--nats-url <url>', 'NATS server URL(s)', process.env.NATS_URL ?? 'nats://127.0.0.1:4222')
  .option('--port <port>', 'HTTP port on 127.0.0.1', '8321')
  .action(async (o: { cluster: string; natsUrl: string; port: string }) => {
    const bus = await NatsBus.connect(o.natsUrl, { name: 'tenure-inspect', logger: silentLogger });
    const url = await new InspectServer(bus, o.cluster).listen(Number(o.port));
    console.log(`inspector for cluster "${o.cluster}" at ${url}`);
  });

registerBenchCommand(program);

program.parseAsync().catch((err: unknown) => {
  if (err instanceof ConfigError) console.error(err.message);
  else console.error(err instanceof Error ? err.message : err);
  process.exit(2);
});
