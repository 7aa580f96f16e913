/**
 * Logging: one pino root logger per process, children per component (`childLogger('raft', 'n1')`).
 *
 * - Level: `initLogger({ level })` from the loaded config; before that, `TENURE_LOG_LEVEL`, else 'info'.
 * - Output: newline-delimited JSON on stderr (stdout stays free for CLI output).
 * - Nothing is logged per operation at info level: per-op detail is debug/trace.
 * - Tests use `silentLogger` (or `TENURE_LOG_LEVEL=silent`).
 *
 * Children inherit the root's level when they are created, so call `initLogger` before creating them.
 */
import { pino, type Logger as PinoLogger, type LevelWithSilent, type DestinationStream } from 'pino';

export type Logger = PinoLogger;
export type LogLevel = LevelWithSilent;

export const LOG_LEVELS: readonly LogLevel[] = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'];

export function isLogLevel(value: unknown): value is LogLevel {
  return typeof value === 'string' && (LOG_LEVELS as readonly string[]).includes(value);
}

export interface LoggerOptions {
  level?: LogLevel;
  /** Defaults to stderr (fd 2). */
  destination?: DestinationStream;
  /** Bound into every line (e.g. `{ cluster, node }`). */
  base?: Record<string, unknown>;
}

/** A new, independent logger (most code wants `rootLogger()`/`childLogger()` instead). */
export function createLogger(opts: LoggerOptions = {}): Logger {
  const level = opts.level ?? envLevel() ?? 'info';
  return pino(
    {
      level,
      base: { pid: process.pid, ...opts.base },
      timestamp: pino.stdTimeFunctions.isoTime,
      formatters: { level: (label) => ({ level: label }) },
    },
    opts.destination ?? pino.destination({ fd: 2, sync: true }),
  );
}

/** Drops everything; for tests and for code that was given no logger. */
export const silentLogger: Logger = pino({ level: 'silent' });

let root: Logger | undefined;

/** Sets up the process's root logger (call once at start-up, with the config's level). */
export function initLogger(opts: LoggerOptions = {}): Logger {
  root = createLogger(opts);
  return root;
}

/** The process's root logger (created on first use if `initLogger` was not called). */
export function rootLogger(): Logger {
  root ??= createLogger();
  return root;
}

/** A child of the root logger (or of `parent`) bound to `{ component, id }`. */
export function childLogger(component: string, id?: string, parent?: Logger): Logger {
  const bindings: Record<string, string> = { component };
  if (id !== undefined) bindings.id = id;
  return (parent ?? rootLogger()).child(bindings);
}

function envLevel(): LogLevel | undefined {
  const v = process.env.TENURE_LOG_LEVEL?.trim().toLowerCase();
  return v && isLogLevel(v) ? v : undefined;
}
