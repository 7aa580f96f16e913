/** One simulated process's connection to a SimNetwork (bus/sim-bus.ts): the Bus it sees. */
import type { Clock } from '../clock/clock.ts';
import { invalid, TenureError } from '../errors/errors.ts';
import type { Logger } from '../log/logger.ts';
import { decode, decodeReply, encode, JSON_CONTENT_TYPE } from './codec.ts';
import { runHandler, type RawReply } from './serve-core.ts';
import { validateSubject } from './subjects.ts';
import { DEFAULT_MAX_PAYLOAD_BYTES, type Bus, type MessageHandler, type RequestHandler, type RequestOptions, type ServeOptions, type Subscription } from './types.ts';
import type { Envelope, SimNetwork, SimSub } from './sim-bus.ts';
import { cancelled, type PendingRequest } from './pending-request.ts';
import { watchAbort } from './abort-watch.ts';

export interface SimEndpointStats {
  /** Published messages dropped by subscribe() because they could not be decoded. */
  undecodable: number;
  /** Replies that arrived after their request had settled (timed out, cancelled, duplicate). */
  lateReplies: number;
}


/** One simulated process's connection to the network. */
export class SimEndpoint implements Bus {
  readonly name: string;
  closed = false;
  private readonly net: SimNetwork;
  private readonly log: Logger;
  private readonly pending = new Map<number, PendingRequest<unknown>>();
  private nextToken = 0;
  private readonly counters: SimEndpointStats = { undecodable: 0, lateReplies: 0 };

  /** This process's own clock (its timeouts and the deadlines its handlers see); the network's by default. */
  private readonly clock: Clock;

  /** @internal use `network.endpoint(name)` */
  constructor(net: SimNetwork, name: string, clock?: Clock) {
    this.net = net;
    this.name = name;
    this.clock = clock ?? net.clock;
    this.log = net.log.child({ endpoint: name });
  }

  stats(): Readonly<SimEndpointStats> {
    return { ...this.counters };
  }

  request<T = unknown>(subject: string, payload: unknown, opts: RequestOptions): Promise<T> {
    if (this.closed) return Promise.reject(new TenureError('Cancelled', 'bus closed'));
    const { deadlineMs, signal, json = false } = opts;
    if (signal?.aborted) return Promise.reject(cancelled(signal));
    if (typeof deadlineMs !== 'number' || Number.isNaN(deadlineMs)) {
      return Promise.reject(invalid('deadlineMs', 'must be a number of milliseconds'));
    }
    if (deadlineMs <= 0) return Promise.reject(new TenureError('Timeout', `no time left for request on ${subject}`));
    let bytes: Uint8Array;
    try {
      validateSubject(subject, false);
      bytes = encode(payload, json);
    } catch (err) {
      return Promise.reject(err);
    }
    const clock = this.clock;
    const token = this.nextToken++;
    return new Promise<T>((resolve, reject) => {
      const p: PendingRequest<unknown> = { subject, resolve: resolve as (v: unknown) => void, reject };
      this.pending.set(token, p);
      if (Number.isFinite(deadlineMs)) {
        p.timer = clock.setTimeout(
          () => this.settle(token, new TenureError('Timeout', `no reply on ${subject} within ${deadlineMs} ms`)),
          deadlineMs,
        );
      }
      if (signal) {
        p.offAbort = watchAbort(signal, () => this.settle(token, cancelled(signal)));
      }
      const env: Envelope = {
        id: this.net.newMessageId(),
        type: 'request',
        subject,
        bytes,
        json,
        from: this,
        budgetMs: deadlineMs,
        lane: opts.lane,
        replyTo: { endpoint: this, token },
      };
      if (!this.net.route(env)) {
        clock.setTimeout(
          () => this.settle(token, new TenureError('NoResponders', `no responders on ${subject}`, { subject })),
          0,
        );
      }
    });
  }

  serve(subject: string, handler: RequestHandler, opts: ServeOptions = {}): Subscription {
    return this.addSub(subject, opts.queue, {
      serve: { handler, maxPayloadBytes: opts.maxPayloadBytes ?? DEFAULT_MAX_PAYLOAD_BYTES, admit: opts.admit },
    });
  }

  publish(subject: string, payload: unknown, opts: { json?: boolean } = {}): void {
    if (this.closed) return;
    validateSubject(subject, false);
    const json = opts.json ?? false;
    const bytes = encode(payload, json);
    this.net.route({ id: this.net.newMessageId(), type: 'publish', subject, bytes, json, from: this });
  }

  subscribe(subject: string, handler: MessageHandler, opts: { queue?: string } = {}): Subscription {
    return this.addSub(subject, opts.queue, { message: handler });
  }

  async flush(): Promise<void> {
    // Everything sent is already scheduled on the clock.
  }

  async close(): Promise<void> {
    this.closeNow('bus closed');
  }

  /** @internal */
  closeNow(why: string): void {
    if (this.closed) return;
    this.closed = true;
    this.net.forget(this);
    for (const token of [...this.pending.keys()]) this.settle(token, new TenureError('Cancelled', why));
  }

  /** @internal A request or publish arrives at one of this endpoint's subscriptions. */
  receive(sub: SimSub, env: Envelope): void {
    if (sub.serve) {
      const { handler, maxPayloadBytes, admit } = sub.serve;
      const raw = {
        subject: env.subject,
        bytes: env.bytes,
        contentType: env.json ? JSON_CONTENT_TYPE : undefined,
        deadline: env.budgetMs !== undefined && Number.isFinite(env.budgetMs) ? this.clock.now() + env.budgetMs : Infinity,
        lane: env.lane,
      };
      runHandler(raw, handler, maxPayloadBytes, this.log, (reply: RawReply) => {
        if (!env.replyTo || this.closed) return;
        this.net.reply({
          id: env.id,
          type: 'reply',
          subject: env.subject,
          bytes: reply.bytes,
          json: reply.json,
          errorCode: reply.errorCode,
          from: this,
          replyTo: env.replyTo,
        });
      }, admit);
      return;
    }
    let data: unknown;
    try {
      data = decode(env.bytes, env.json ? JSON_CONTENT_TYPE : undefined).value;
    } catch (err) {
      this.counters.undecodable++;
      this.log.debug({ subject: env.subject, err: (err as Error).message }, 'dropped undecodable message');
      return;
    }
    try {
      sub.message!(data, env.subject);
    } catch (err) {
      this.log.error({ subject: env.subject, err }, 'message handler failed');
    }
  }

  /** @internal A reply arrives for one of this endpoint's requests. */
  receiveReply(env: Envelope): void {
    const token = env.replyTo!.token;
    if (!this.pending.has(token)) {
      this.counters.lateReplies++;
      return;
    }
    const { err, value } = decodeReply(env.bytes, env.json ? JSON_CONTENT_TYPE : undefined, env.errorCode);
    this.settle(token, err, value);
  }

  private addSub(subject: string, queue: string | undefined, kind: Pick<SimSub, 'serve' | 'message'>): Subscription {
    if (this.closed) throw new TenureError('Cancelled', 'bus closed');
    validateSubject(subject, true);
    if (queue !== undefined) validateSubject(queue, false, 'queue');
    const sub: SimSub = { endpoint: this, pattern: subject, queue, active: true, ...kind };
    this.net.addSub(sub);
    return {
      unsubscribe: () => {
        if (sub.active) this.net.removeSub(sub);
      },
    };
  }

  private settle(token: number, err: TenureError | undefined, value?: unknown): void {
    const p = this.pending.get(token);
    if (!p) return;
    this.pending.delete(token);
    if (p.timer !== undefined) this.clock.clearTimeout(p.timer);
    p.offAbort?.();
    if (err) p.reject(err);
    else p.resolve(value);
  }
}
