/**
 * The production bus: NATS core request-reply and pubsub via @nats-io/transport-node.
 *
 * Requests use one wildcard reply subscription per connection (`_INBOX.<id>.*`) and a map of
 * pending calls, so a timeout or an abort settles the call at once and frees it (nats.js's own
 * request() has no AbortSignal). "No responders" is the server's 503 status reply, which nats.js
 * enables (headers + no_responders in CONNECT) whenever the server supports headers (2.2+):
 * it arrives after one round trip, not after the timeout.
 *
 * Wire conventions (see bus/codec.ts): `Tenure-Deadline-Ms` (relative ms) on requests,
 * `Tenure-Error: <code>` on error replies, `Content-Type: application/json` on JSON messages.
 */
import {
  connect,
  createInbox,
  headers as natsHeaders,
  InvalidSubjectError,
  type Msg,
  type MsgHdrs,
  type NatsConnection,
  type Subscription as NatsSubscription,
} from '@nats-io/transport-node';
import { invalid, TenureError } from '../errors/errors.ts';
import { silentLogger, type Logger } from '../log/logger.ts';
import {
  CONTENT_TYPE_HEADER,
  DEADLINE_HEADER,
  LANE_HEADER,
  decode,
  decodeReply,
  encode,
  ERROR_HEADER,
  JSON_CONTENT_TYPE,
} from './codec.ts';
import { deadlineFrom, header, JSON_HEADER_BYTES, JSON_HEADERS, replyPublisher } from './nats-headers.ts';
import { monotonicNow } from '../clock/clock.ts';
import { frameProtocol, publishFrame, type FrameProtocol } from './nats-frame.ts';
import { runHandler, type RawReply } from './serve-core.ts';
import {
  DEFAULT_MAX_PAYLOAD_BYTES,
  type Bus,
  type MessageHandler,
  type RequestHandler,
  type RequestOptions,
  type ServeOptions,
  type Subscription,
} from './types.ts';
import { cancelled, type PendingRequest } from './pending-request.ts';
import { watchAbort } from './abort-watch.ts';
import { timeoutAfterIo } from './io-timeout.ts';

export interface NatsBusOptions {
  /** Client name shown by the server (`nats server report connections`). */
  name?: string;
  logger?: Logger;
  /** Bound on the initial connection attempt (default 5000 ms). Reconnects after that are unbounded. */
  connectTimeoutMs?: number;
  /** Default limit for `serve()` when the caller gives none (default DEFAULT_MAX_PAYLOAD_BYTES). */
  maxPayloadBytes?: number;
  /** How long close() lets a drain run before closing hard (default 2000 ms). */
  closeTimeoutMs?: number;
  /** Wait between reconnect attempts to the same server (default 1000 ms; nats.js's own default is 2000). */
  reconnectTimeWaitMs?: number;
}

export interface NatsBusStats {
  requestsSent: number;
  requestsServed: number;
  errorReplies: number;
  /** Handler exceptions that were not TenureErrors (answered as `Internal`). */
  internalErrors: number;
  /** Published messages dropped by subscribe() because they could not be decoded. */
  undecodable: number;
  /** Replies that arrived after their request had settled (timed out, cancelled). */
  lateReplies: number;
  /** Requests dropped unread because their caller's deadline had passed when they arrived. */
  expiredOnArrival: number;
}


/** Longest delay Node's setTimeout accepts; longer budgets are treated as "no timer". */
const MAX_TIMER_MS = 2 ** 31 - 1;

/** Outbound bytes at which nats.js writes to the socket before the end of the turn (see connect). */
const PENDING_LIMIT_BYTES = 1024 * 1024;

/** Options of every JSON publish, shared (nats.js only reads them, and sets `reply` to ''). */
const JSON_PUBLISH = { headers: JSON_HEADERS };

export class NatsBus implements Bus {
  readonly nc: NatsConnection;
  private readonly log: Logger;
  private readonly defaultMaxPayload: number;
  private readonly closeTimeoutMs: number;
  private readonly inboxPrefix: string;
  /** nats.js's protocol handler for publishing without its per-message strings (bus/nats-frame.ts), if usable. */
  private readonly frames: FrameProtocol | null;
  private readonly sendReply: (replyTo: string, reply: RawReply) => void;
  private inboxSub?: NatsSubscription;
  private readonly pending = new Map<string, PendingRequest<NodeJS.Timeout>>();
  private nextToken = 0;
  private closing?: Promise<void>;
  private readonly counters: NatsBusStats = {
    requestsSent: 0,
    requestsServed: 0,
    expiredOnArrival: 0,
    errorReplies: 0,
    internalErrors: 0,
    undecodable: 0,
    lateReplies: 0,
  };

  /**
   * Connects to NATS (`url` may be a comma-separated list). Fails with an Error naming the URL
   * if no server answers within `connectTimeoutMs`; once connected, reconnects forever.
   */
  static async connect(url: string | string[], opts: NatsBusOptions = {}): Promise<NatsBus> {
    const servers = (Array.isArray(url) ? url : url.split(','))
      .map((s) => s.trim())
      .filter((s) => s !== '');
    const shown = servers.join(',') || String(url);
    const timeoutMs = opts.connectTimeoutMs ?? 5000;
    let timer: NodeJS.Timeout | undefined;
    const attempt = connect({
      servers,
      name: opts.name,
      reconnect: true,
      maxReconnectAttempts: -1,
      waitOnFirstConnect: false,
      noAsyncTraces: true,
      // nats.js writes its outbound buffer to the socket at the end of each microtask batch, and
      // also inline whenever it passes `pendingLimit` (32 KiB by default, an option its types
      // leave out): the leader's events of one Raft entry (≈ 50 KB at 128 claiming clients) went
      // out in 2–3 writes. Each socket write also wakes nats-server; one write per batch instead.
      ...({ pendingLimit: PENDING_LIMIT_BYTES } as object),
      timeout: timeoutMs,
      reconnectTimeWait: opts.reconnectTimeWaitMs ?? 1000,
    });
    const deadline = new Promise<never>((_, reject) => {
      timer = setTimeout(
        () => reject(new Error(`cannot connect to NATS at ${shown}: no answer within ${timeoutMs} ms`)),
        timeoutMs + 250,
      );
    });
    try {
      const nc = await Promise.race([attempt, deadline]);
      return new NatsBus(nc, opts);
    } catch (err) {
      // If our own timer won, close the connection should it still come up.
      attempt.then((nc) => nc.close()).catch(() => {});
      const why = err instanceof Error ? err.message : String(err);
      if (why.startsWith('cannot connect to NATS')) throw err;
      throw new Error(`cannot connect to NATS at ${shown}: ${why}`, { cause: err });
    } finally {
      clearTimeout(timer);
    }
  }

  /** Wraps an existing connection (the bus takes ownership: close() drains it). */
  constructor(nc: NatsConnection, opts: Omit<NatsBusOptions, 'connectTimeoutMs' | 'reconnectTimeWaitMs'> = {}) {
    this.nc = nc;
    this.log = opts.logger ?? silentLogger;
    this.defaultMaxPayload = opts.maxPayloadBytes ?? DEFAULT_MAX_PAYLOAD_BYTES;
    this.closeTimeoutMs = opts.closeTimeoutMs ?? 2000;
    this.inboxPrefix = createInbox();
    this.frames = frameProtocol(nc);
    this.sendReply = replyPublisher(nc);
    void this.watchStatus();
    nc.closed().then(
      (err) => this.onClosed(err ?? undefined),
      (err) => this.onClosed(err),
    );
  }

  stats(): Readonly<NatsBusStats> {
    return { ...this.counters };
  }

  request<T = unknown>(subject: string, payload: unknown, opts: RequestOptions): Promise<T> {
    if (this.closing || this.nc.isClosed()) return Promise.reject(new TenureError('Cancelled', 'bus closed'));
    const { deadlineMs, signal, json = false } = opts;
    if (signal?.aborted) return Promise.reject(cancelled(signal));
    if (typeof deadlineMs !== 'number' || Number.isNaN(deadlineMs)) {
      return Promise.reject(invalid('deadlineMs', 'must be a number of milliseconds'));
    }
    if (deadlineMs <= 0) return Promise.reject(new TenureError('Timeout', `no time left for request on ${subject}`));
    let bytes: Uint8Array;
    try {
      bytes = encode(payload, json);
    } catch (err) {
      return Promise.reject(err);
    }
    const h = natsHeaders();
    if (Number.isFinite(deadlineMs)) h.set(DEADLINE_HEADER, String(Math.max(1, Math.floor(deadlineMs))));
    if (json) h.set(CONTENT_TYPE_HEADER, JSON_CONTENT_TYPE);
    if (opts.lane) h.set(LANE_HEADER, opts.lane);

    this.ensureInbox();
    const token = (this.nextToken++).toString(36);
    return new Promise<T>((resolve, reject) => {
      const p: PendingRequest<NodeJS.Timeout> = { subject, resolve: resolve as (v: unknown) => void, reject };
      this.pending.set(token, p);
      if (deadlineMs <= MAX_TIMER_MS) {
        // After this turn's socket reads: a reply that came while the loop was stalled still wins.
        p.timer = timeoutAfterIo(() => this.settle(token, new TenureError('Timeout', `no reply on ${subject} within ${deadlineMs} ms`)), deadlineMs);
      }
      if (signal) {
        p.offAbort = watchAbort(signal, () => this.settle(token, cancelled(signal)));
      }
      try {
        this.nc.publish(subject, bytes, { reply: `${this.inboxPrefix}.${token}`, headers: h });
        this.counters.requestsSent++;
      } catch (err) {
        this.settle(token, mapPublishError(err, subject));
      }
    });
  }

  serve(subject: string, handler: RequestHandler, opts: ServeOptions = {}): Subscription {
    const max = opts.maxPayloadBytes ?? this.defaultMaxPayload;
    const log = this.log;
    const sub = this.subscribeRaw(subject, opts.queue, (msg) => {
      this.counters.requestsServed++;
      const hdrs = msg.headers;
      const raw = {
        subject: msg.subject,
        bytes: msg.data,
        contentType: header(hdrs, CONTENT_TYPE_HEADER),
        deadline: deadlineFrom(header(hdrs, DEADLINE_HEADER)),
        lane: header(hdrs, LANE_HEADER),
      };
      // A request whose caller has already given up (it waited in a backlog) is dropped unread:
      // nobody is listening for the answer, and working on it would only delay live requests.
      if (raw.deadline <= monotonicNow()) {
        this.counters.expiredOnArrival++;
        return;
      }
      // The reply callback keeps the reply subject, not the message (and its payload) until then.
      const replyTo = msg.reply;
      runHandler(raw, handler, max, log, (reply) => {
        if (reply.errorCode) {
          this.counters.errorReplies++;
          if (reply.errorCode === 'Internal') this.counters.internalErrors++;
        }
        if (!replyTo) return; // published, not requested: nobody to answer
        this.sendReply(replyTo, reply); // the frame path, errors too (bus/nats-headers.ts)
      }, opts.admit);
    });
    return { unsubscribe: () => unsubscribe(sub) };
  }

  /** The connection and its protocol handler, for a caller that writes whole messages (actors/event-frames.ts); null without them. */
  get frameTarget(): { nc: NatsConnection; protocol: FrameProtocol } | null {
    return this.frames && !this.closing ? { nc: this.nc, protocol: this.frames } : null;
  }

  publish(subject: string, payload: unknown, opts: { json?: boolean } = {}): void {
    if (this.closing || this.nc.isClosed()) {
      this.log.debug({ subject }, 'publish after close dropped');
      return;
    }
    const json = opts.json ?? false;
    const bytes = encode(payload, json);
    try {
      if (this.frames && publishFrame(this.nc, this.frames, subject, bytes, json ? JSON_HEADER_BYTES : undefined)) return;
      if (json) {
        this.nc.publish(subject, bytes, JSON_PUBLISH);
      } else {
        this.nc.publish(subject, bytes);
      }
    } catch (err) {
      throw mapPublishError(err, subject);
    }
  }

  subscribe(subject: string, handler: MessageHandler, opts: { queue?: string } = {}): Subscription {
    const sub = this.subscribeRaw(subject, opts.queue, (msg) => {
      let data: unknown;
      try {
        data = decode(msg.data, header(msg.headers, CONTENT_TYPE_HEADER)).value;
      } catch (err) {
        this.counters.undecodable++;
        this.log.debug({ subject: msg.subject, size: msg.data.length, err: (err as Error).message }, 'dropped undecodable message');
        return;
      }
      try {
        handler(data, msg.subject);
      } catch (err) {
        this.log.error({ subject: msg.subject, err }, 'message handler failed');
      }
    });
    return { unsubscribe: () => unsubscribe(sub) };
  }

  async flush(): Promise<void> {
    if (this.closing || this.nc.isClosed()) return;
    await this.nc.flush();
  }

  /** Drains the connection (in-flight handlers finish, then it closes); pending requests reject with `Cancelled`. */
  close(): Promise<void> {
    this.closing ??= (async () => {
      this.rejectAll('bus closed');
      if (this.nc.isClosed()) return;
      // Drain needs the server; while disconnected it would wait for a reconnect that may never come.
      let timer: NodeJS.Timeout | undefined;
      const gaveUp = new Promise<'timeout'>((resolve) => {
        timer = setTimeout(() => resolve('timeout'), this.closeTimeoutMs);
      });
      try {
        const r = await Promise.race([this.nc.drain().then(() => 'drained' as const), gaveUp]);
        if (r === 'timeout') this.log.warn({ ms: this.closeTimeoutMs }, 'drain did not finish in time; closing');
      } catch (err) {
        this.log.debug({ err }, 'drain failed; closing');
      } finally {
        clearTimeout(timer);
      }
      if (!this.nc.isClosed()) await this.nc.close().catch(() => {});
    })();
    return this.closing;
  }

  // ---- internals ----

  private subscribeRaw(subject: string, queue: string | undefined, onMsg: (msg: Msg) => void): NatsSubscription {
    if (this.closing || this.nc.isClosed()) throw new TenureError('Cancelled', 'bus closed');
    try {
      return this.nc.subscribe(subject, {
        queue,
        callback: (err, msg) => {
          if (err) {
            this.log.warn({ subject, err }, 'subscription error');
            return;
          }
          try {
            onMsg(msg);
          } catch (e) {
            this.log.error({ subject, err: e }, 'message dispatch failed');
          }
        },
      });
    } catch (err) {
      throw mapPublishError(err, subject);
    }
  }

  private ensureInbox(): void {
    if (this.inboxSub) return;
    const prefixLen = this.inboxPrefix.length + 1;
    this.inboxSub = this.nc.subscribe(`${this.inboxPrefix}.*`, {
      callback: (err, msg) => {
        if (err) {
          this.log.warn({ err }, 'reply subscription error');
          return;
        }
        this.onReply(msg.subject.slice(prefixLen), msg);
      },
    });
  }

  private onReply(token: string, msg: Msg): void {
    const p = this.pending.get(token);
    if (!p) {
      this.counters.lateReplies++;
      return;
    }
    const hdrs = msg.headers;
    if (hdrs && hdrs.code === 503 && msg.data.length === 0) {
      this.settle(token, new TenureError('NoResponders', `no responders on ${p.subject}`, { subject: p.subject }));
      return;
    }
    const { err, value } = decodeReply(msg.data, header(hdrs, CONTENT_TYPE_HEADER), header(hdrs, ERROR_HEADER));
    this.settle(token, err, value);
  }

  private settle(token: string, err: TenureError | undefined, value?: unknown): void {
    const p = this.pending.get(token);
    if (!p) return;
    this.pending.delete(token);
    if (p.timer) clearTimeout(p.timer);
    p.offAbort?.();
    if (err) p.reject(err);
    else p.resolve(value);
  }

  private rejectAll(why: string): void {
    for (const token of [...this.pending.keys()]) this.settle(token, new TenureError('Cancelled', why));
  }

  private onClosed(err: unknown): void {
    if (err) this.log.warn({ err }, 'NATS connection closed with an error');
    this.rejectAll('NATS connection closed');
  }

  private async watchStatus(): Promise<void> {
    try {
      for await (const s of this.nc.status()) {
        switch (s.type) {
          case 'disconnect':
            this.log.warn({ server: s.server }, 'disconnected from NATS');
            break;
          case 'reconnect':
            this.log.info({ server: s.server }, 'reconnected to NATS');
            break;
          case 'error':
            this.log.warn({ err: s.error }, 'NATS server error');
            break;
          case 'slowConsumer':
            this.log.warn({ sub: s.sub.getSubject() }, 'slow consumer');
            break;
          default:
            break;
        }
      }
    } catch {
      // the iterator ends when the connection closes
    }
  }
}


function mapPublishError(err: unknown, subject: string): TenureError {
  if (err instanceof TenureError) return err;
  if (err instanceof InvalidSubjectError) return invalid('subject', `${JSON.stringify(subject)} is not a valid subject`);
  const message = err instanceof Error ? err.message : String(err);
  if (/max_payload|payload/i.test(message)) return invalid('payload', message);
  if (/closed|draining/i.test(message)) return new TenureError('Cancelled', `bus closed: ${message}`);
  return new TenureError('Internal', message);
}

function unsubscribe(sub: NatsSubscription): void {
  try {
    if (!sub.isClosed()) sub.unsubscribe();
  } catch {
    // already closed with the connection
  }
}
