/**
 * Starts a private nats-server on a free port (never 4222): used by `npm start` (cli/local-cluster.ts),
 * the benchmarks, test/global-setup.ts and tests that need a server of their own.
 *
 *   const srv = await startNatsServer({ jetstream: true });
 *   … srv.url …
 *   await srv.stop();   // kills the process and removes its temp dir
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { createConnection, createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

export const INSTALL_HINT =
  'nats-server is required to run the tests but was not found on PATH. Install it with ' +
  '`apt-get install -y nats-server` (Debian/Ubuntu) or `brew install nats-server` (macOS), ' +
  'or run `docker compose up nats` and set TENURE_TEST_NATS_URL=nats://127.0.0.1:4222 ' +
  '(NATS_SERVER_BIN may point at a binary elsewhere).';

export interface NatsServerOptions {
  /** Enable JetStream with a temp store dir (default false). */
  jetstream?: boolean;
  /** Use this port instead of a free one (e.g. to restart a stopped server on the same URL). */
  port?: number;
  /** Extra command-line arguments. */
  args?: string[];
  /** How long to wait for the server to accept connections (default 10 s). */
  startTimeoutMs?: number;
}

export interface NatsServerHandle {
  url: string;
  port: number;
  pid: number;
  /** Kills the server (SIGTERM, then SIGKILL) and removes its temp dir. Idempotent. */
  stop(): Promise<void>;
}

const running = new Set<ChildProcess>();
let exitHookInstalled = false;

function installExitHook(): void {
  if (exitHookInstalled) return;
  exitHookInstalled = true;
  // Last resort if the test process dies without calling stop(): never leave servers behind.
  process.once('exit', () => {
    for (const child of running) {
      try {
        child.kill('SIGKILL');
      } catch {
        // already gone
      }
    }
  });
}

export async function startNatsServer(opts: NatsServerOptions = {}): Promise<NatsServerHandle> {
  const attempts = opts.port === undefined ? 3 : 1;
  let lastErr: unknown;
  for (let i = 0; i < attempts; i++) {
    const port = opts.port ?? (await freePort());
    try {
      return await startOn(port, opts);
    } catch (err) {
      lastErr = err;
      if ((err as Error).message === INSTALL_HINT) throw err;
    }
  }
  throw lastErr;
}

async function startOn(port: number, opts: NatsServerOptions): Promise<NatsServerHandle> {
  const bin = process.env.NATS_SERVER_BIN || 'nats-server';
  const dir = mkdtempSync(join(tmpdir(), 'tenure-nats-'));
  const args = ['-a', '127.0.0.1', '-p', String(port)];
  if (opts.jetstream) args.push('-js', '-sd', dir);
  args.push(...(opts.args ?? []));

  const child = spawn(bin, args, { stdio: ['ignore', 'ignore', 'pipe'] });
  running.add(child);
  installExitHook();
  let stderr = '';
  child.stderr!.setEncoding('utf8');
  child.stderr!.on('data', (chunk: string) => {
    if (stderr.length < 16_384) stderr += chunk;
  });
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null; error?: Error }>((resolve) => {
    child.once('error', (error) => resolve({ code: null, signal: null, error }));
    child.once('exit', (code, signal) => resolve({ code, signal }));
  });
  exited.then(() => running.delete(child));

  let stopped = false;
  const stop = async (): Promise<void> => {
    if (stopped) return;
    stopped = true;
    if (child.exitCode === null && child.signalCode === null && child.pid !== undefined) {
      child.kill('SIGTERM');
      const killer = setTimeout(() => child.kill('SIGKILL'), 3000);
      await exited;
      clearTimeout(killer);
    } else {
      await exited;
    }
    child.stderr?.destroy();
    rmSync(dir, { recursive: true, force: true });
  };

  const deadline = Date.now() + (opts.startTimeoutMs ?? 10_000);
  let done = false;
  const early = exited.then((r) => {
    if (done) return;
    if (r.error && (r.error as NodeJS.ErrnoException).code === 'ENOENT') throw new Error(INSTALL_HINT);
    throw new Error(
      `nats-server exited during start-up (code ${r.code}, signal ${r.signal})${r.error ? `: ${r.error.message}` : ''}\n${stderr.trim()}`,
    );
  });
  try {
    await Promise.race([early, waitForPort(port, deadline)]);
    if (child.exitCode !== null || child.signalCode !== null) await early;
  } catch (err) {
    done = true;
    await stop();
    throw err;
  } finally {
    done = true;
  }
  early.catch(() => {});
  return { url: `nats://127.0.0.1:${port}`, port, pid: child.pid!, stop };
}

/** A port the OS says is free right now (never 4222, the default NATS port). */
export async function freePort(): Promise<number> {
  for (;;) {
    const port = await new Promise<number>((resolve, reject) => {
      const srv = createServer();
      srv.unref();
      srv.once('error', reject);
      srv.listen(0, '127.0.0.1', () => {
        const addr = srv.address();
        const p = typeof addr === 'object' && addr ? addr.port : 0;
        srv.close(() => resolve(p));
      });
    });
    if (port !== 4222 && port !== 0) return port;
  }
}

async function waitForPort(port: number, deadline: number): Promise<void> {
  for (;;) {
    if (await canConnect(port)) return;
    if (Date.now() > deadline) throw new Error(`nats-server did not accept connections on 127.0.0.1:${port} in time`);
    await new Promise((r) => setTimeout(r, 25));
  }
}

/** True once something on the port greets us the way nats-server does (an INFO line). */
function canConnect(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const sock = createConnection({ host: '127.0.0.1', port });
    const finish = (ok: boolean) => {
      clearTimeout(timer);
      sock.destroy();
      resolve(ok);
    };
    const timer = setTimeout(() => finish(false), 1000);
    sock.once('data', (chunk) => finish(chunk.toString('latin1').startsWith('INFO')));
    sock.once('error', () => finish(false));
    sock.once('close', () => finish(false));
  });
}
