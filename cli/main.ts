import { Command } from 'commander';
import { loadConfig, ConfigError, type ConfigFlags } from '../config/config.ts';
import { runNode } from './run-node.ts';
import { startLocalCluster } from './local-cluster.ts';
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
    .option('--clock-interval-ms <ms>');

nodeFlags(program.command('node').description('run one Tenure node')).action(async (flags: ConfigFlags) => {
  await runNode(loadConfig(process.env, flags));
});

nodeFlags(program.command('start').description('start a local 3-node cluster (and a nats-server unless NATS_URL is set)'))
  .option('--size <n>', 'number of nodes', '3')
  .action(async (flags: ConfigFlags & { size: string }) => {
    await startLocalCluster(flags);
  });

registerBenchCommand(program);

program.parseAsync().catch((err: unknown) => {
  if (err instanceof ConfigError) console.error(err.message);
  else console.error(err instanceof Error ? err.message : err);
  process.exit(2);
});
