/**
 * The bus: the only seam between Tenure's actors and the network. Two implementations share it:
 * `NatsBus` (production, bus/nats-bus.ts) and `SimNetwork`'s endpoints (tests, bus/sim-bus.ts).
 * Payloads are plain objects; implementations encode them (msgpack by default, JSON for JSON callers).
 */

export interface RequestOptions {
  /** Budget for the whole request in ms; becomes `Timeout` when it passes. Sent to the server too. */
  deadlineMs: number;
  /** Aborting rejects at once with `Cancelled`. */
  signal?: AbortSignal;
  /** Encode this request as JSON instead of msgpack (what `nats req` users do). */
  json?: boolean;
  /**
   * Admission lane every op of this request belongs to (`Tenure-Lane` header), e.g. `claim` for a
   * batch of claims: lets a busy server refuse it unread. A hint only; it never widens admission.
   */
  lane?: string;
}

export interface IncomingRequest {
  subject: string;
  /** Decoded payload (an object; `{}` for an empty payload). */
  data: unknown;
  /** The request was JSON; the reply will be JSON too. */
  json: boolean;
  /** Size of the raw payload in bytes. */
  size: number;
  /** Absolute time (the serving process's clock) after which the caller has given up; Infinity if unknown. */
  deadline: number;
}

/** A handler returns the reply payload or throws a TenureError, which becomes a typed error reply. */
export type RequestHandler = (req: IncomingRequest) => unknown | Promise<unknown>;

export type MessageHandler = (data: unknown, subject: string) => void;

export interface ServeOptions {
  /** Queue group: each request goes to one member of the group. */
  queue?: string;
  /** Payloads larger than this get `Invalid` (field `payload`) without reaching the handler. */
  maxPayloadBytes?: number;
  /**
   * Called with the subject before the payload is even decoded; a returned error (typically
   * `Overloaded`) is the reply. Lets a server shed load at a fraction of the cost of serving it.
   */
  admit?: (subject: string, lane?: string) => import('../errors/errors.ts').TenureError | null;
}

export interface Subscription {
  unsubscribe(): void;
}

export interface Bus {
  /** Request-reply. Rejects with TenureError: NoResponders, Timeout, Cancelled, or the remote's typed error. */
  request<T = unknown>(subject: string, payload: unknown, opts: RequestOptions): Promise<T>;
  /** Serve requests on a subject. Handler errors become typed error replies; the subscription keeps serving. */
  serve(subject: string, handler: RequestHandler, opts?: ServeOptions): Subscription;
  /** Fire-and-forget publish (events, legacy pubsub). Never blocks. */
  publish(subject: string, payload: unknown, opts?: { json?: boolean }): void;
  /** Subscribe to published messages (wildcards allowed). Undecodable messages are dropped and counted. */
  subscribe(subject: string, handler: MessageHandler, opts?: { queue?: string }): Subscription;
  /** Resolves once everything published so far has reached the server (NATS) or been scheduled (sim). */
  flush(): Promise<void>;
  close(): Promise<void>;
}

/** Default limit for client payloads; Raft traffic uses a larger one. */
export const DEFAULT_MAX_PAYLOAD_BYTES = 64 * 1024;
