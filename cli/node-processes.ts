import { spawn, type ChildProcess } from 'node:child_process';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const here = dirname(fileURLToPath(import.meta.url));
/** Resolved from this package, so nodes start whatever the caller's working directory is. */
const TSX_LOADER = import.meta.resolve('tsx');

/**
 * Node.js flags for node processes when `TENURE_NODE_ARGS` is unset (set it, even empty, to replace
 * them). A 4 MB semi-space keeps V8's young generation at ≈ 12 MB instead of up to 48 MB: with the
 * memory governor (actors/memory-governor.ts) it is what holds a node under 256 MB RSS at 5×
 * overload (docs/benchmarks.md, fourth session), for ≈ 8 % of closed-loop throughput.
 */
export const DEFAULT_NODE_ARGS = '--max-semi-space-size=4';

/**
 * glibc malloc settings for node processes, each unless the caller's environment sets it. By
 * default glibc raises its mmap threshold every time a large block is freed, so after a while the
 * Buffers that NATS, msgpackr and lmdb-js allocate come from the arenas, where freed memory stays
 * resident: at 5× overload that "native" part of RSS grew from 14 to 46–53 MB and stayed there.
 * A fixed 64 KiB threshold maps large blocks on their own (returned on free) and a 1 MiB trim
 * threshold gives the heap top back: 21–24 MB (docs/benchmarks.md, thirteenth session).
 * Measured cost (twenty-sixth session): lmdb's write thread then maps and unmaps a 1 MiB spill list
 * on every commit (`mdb_page_spill`), ≈ 7–10 % of a claim's CPU on a 2-vCPU guest; 1114112 avoids
 * that but took peak RSS at 5× overload to 240–256 MB against ≈ 230. Kept at 64 KiB for the RSS target.
 */
export const MALLOC_ENV: Readonly<Record<string, string>> = {
  MALLOC_MMAP_THRESHOLD_: '65536',
  MALLOC_TRIM_THRESHOLD_: '1048576',
};

/** A node process's environment: MALLOC_ENV and a `warn` log level unless `parent` sets them, then `extra`. */
export function nodeEnv(parent: NodeJS.ProcessEnv, extra: Record<string, string> = {}): NodeJS.ProcessEnv {
  return { ...MALLOC_ENV, ...parent, TENURE_LOG_LEVEL: parent.TENURE_LOG_LEVEL ?? 'warn', ...extra };
}

export interface NodeProcessOptions {
  id: string;
  nodes: string[];
  natsUrl: string;
  dataDir: string;
  cluster: string;
  env?: Record<string, string>;
  /** Extra Node.js flags for the child (e.g. `--max-old-space-size=192`). */
  nodeArgs?: string[];
  /** Where the child's stderr goes (default: inherited). */
  stderr?: 'inherit' | 'ignore';
}

/**
 * A Tenure node running as its own OS process (what `npm start`, the real-process tests and the
 * benchmarks use). `kill('SIGKILL')` is a kill -9; `start()` again restarts it on the same data.
 */
export class NodeProcess {
  child: ChildProcess | null = null;
  constructor(readonly opts: NodeProcessOptions) {}

  get id(): string {
    return this.opts.id;
  }

  async start(timeoutMs = 20_000): Promise<void> {
    const o = this.opts;
    // `--import tsx` keeps it one OS process, so a SIGKILL really kills the node (tsx's CLI would fork).
    const nodeArgs = o.nodeArgs ?? (process.env.TENURE_NODE_ARGS ?? DEFAULT_NODE_ARGS).split(' ').filter(Boolean);
    const args = [...nodeArgs, '--import', TSX_LOADER, join(here, 'main.ts'), 'node', '--node-id', o.id, '--nodes', o.nodes.join(','), '--nats-url', o.natsUrl, '--data-dir', o.dataDir, '--cluster', o.cluster];
    const child = spawn(process.execPath, args, {
      env: nodeEnv(process.env, o.env),
      stdio: ['ignore', 'pipe', o.stderr ?? 'inherit'],
    });
    this.child = child;
    await new Promise<void>((resolve, reject) => {
      let out = '';
      const timer = setTimeout(() => reject(new Error(`node ${o.id} did not become ready in ${timeoutMs} ms`)), timeoutMs);
      child.stdout!.on('data', (d: Buffer) => {
        out += d.toString();
        if (out.includes(`ready ${o.id}`)) {
          clearTimeout(timer);
          resolve();
        }
      });
      child.once('exit', (code, signal) => {
        clearTimeout(timer);
        reject(new Error(`node ${o.id} exited during start (code ${code}, signal ${signal})`));
      });
    });
    child.removeAllListeners('exit');
  }

  /** SIGKILL: no shutdown code runs, like a crash or kill -9. */
  async kill(): Promise<void> {
    await this.signal('SIGKILL');
  }

  /** Graceful stop (SIGTERM), escalating to SIGKILL after `graceMs`. */
  async stop(graceMs = 5000): Promise<void> {
    const child = this.child;
    if (!child || child.exitCode !== null || child.signalCode !== null) return;
    const t = setTimeout(() => child.kill('SIGKILL'), graceMs);
    await this.signal('SIGTERM');
    clearTimeout(t);
  }

  private async signal(sig: NodeJS.Signals): Promise<void> {
    const child = this.child;
    if (!child || child.exitCode !== null || child.signalCode !== null) return;
    const exited = new Promise<void>((r) => child.once('exit', () => r()));
    child.kill(sig);
    await exited;
    this.child = null;
  }
}
