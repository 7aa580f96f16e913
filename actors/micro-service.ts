/**
 * Serving the lease API as a NATS micro service (`@nats-io/services`), so `nats micro ls|info|stats`
 * show it as `tenure`. On NATS the service's endpoints ARE the serving subscriptions (one per op,
 * in the shared queue group): serving through the bus as well would put every request into two
 * queue groups and run it twice. Requests go through the same `runHandler` as `NatsBus.serve`, so
 * codec, size limit, deadline header and typed errors behave identically on both paths.
 */
import type { MsgHdrs, NatsConnection } from '@nats-io/transport-node';
import { Svcm, ServiceErrorCodeHeader, ServiceErrorHeader, type Service } from '@nats-io/services';
import { CONTENT_TYPE_HEADER, DEADLINE_HEADER, LANE_HEADER } from '../bus/codec.ts';
import { deadlineFrom, header, replyPublisher } from '../bus/nats-headers.ts';
import { runHandler } from '../bus/serve-core.ts';
import type { RequestHandler, ServeOptions } from '../bus/types.ts';
import type { ErrorCode } from '../errors/errors.ts';
import type { Logger } from '../log/logger.ts';
import { monotonicNow } from '../clock/clock.ts';

export interface MicroEndpoint {
  name: string;
  subject: string;
  handler: RequestHandler;
  /** Refusal before decoding (see ServeOptions.admit). */
  admit?: ServeOptions['admit'];
}

export interface MicroServiceOptions {
  nc: NatsConnection;
  name: string;
  version: string;
  description: string;
  queue: string;
  maxPayloadBytes: number;
  metadata: Record<string, string>;
  logger: Logger;
  /** Extra per-endpoint data for `nats micro stats` (our own counters: async errors are invisible to the library's). */
  stats?: (endpoint: string) => unknown;
}

/** Conventional status codes for `Nats-Service-Error-Code`, so generic micro tooling can read our errors. */
const SERVICE_CODES: Partial<Record<ErrorCode, number>> = {
  Invalid: 400,
  Held: 409,
  NotHeld: 409,
  OutOfSync: 409,
  NotLeader: 503,
  NoLeader: 503,
  Overloaded: 503,
  NoResponders: 503,
  DeadlineExceeded: 504,
  Timeout: 504,
  Cancelled: 499,
  Internal: 500,
};

export async function startMicroService(opts: MicroServiceOptions, endpoints: MicroEndpoint[]): Promise<Service> {
  // @nats-io/services pins its own copy of nats-core: same runtime shapes, distinct TS types.
  const svc = await new Svcm(opts.nc as unknown as ConstructorParameters<typeof Svcm>[0]).add({
    name: opts.name,
    version: opts.version,
    description: opts.description,
    metadata: opts.metadata,
    queue: opts.queue,
    statsHandler: opts.stats ? async (ep) => opts.stats!((ep as unknown as { name: string }).name) : undefined,
  });
  // Answers through the frame path (bus/nats-headers.ts), as `msg.respond` would send them otherwise.
  const sendReply = replyPublisher(opts.nc, serviceErrorHeaders);
  for (const ep of endpoints) {
    svc.addEndpoint(ep.name, {
      subject: ep.subject,
      queue: opts.queue,
      handler: (err, msg) => {
        if (err) return; // the library closes the service and logs through `stopped`
        const raw = {
          subject: msg.subject,
          bytes: msg.data,
          contentType: header(msg.headers, CONTENT_TYPE_HEADER),
          deadline: deadlineFrom(header(msg.headers, DEADLINE_HEADER)),
          lane: header(msg.headers, LANE_HEADER),
        };
        if (raw.deadline <= monotonicNow()) return; // the caller gave up while this waited in a backlog: drop unread
        // The reply callback keeps the reply subject, not the message (and its payload) until then.
        const replyTo = msg.reply;
        runHandler(raw, ep.handler, opts.maxPayloadBytes, opts.logger, (reply) => {
          if (replyTo) sendReply(replyTo, reply);
        }, ep.admit);
      },
    });
  }
  svc.stopped.then((err) => {
    if (err) opts.logger.warn({ err }, 'micro service stopped with an error');
  });
  return svc;
}

function serviceErrorHeaders(h: MsgHdrs, code: string): void {
  h.set(ServiceErrorHeader, code);
  h.set(ServiceErrorCodeHeader, String(SERVICE_CODES[code as ErrorCode] ?? 500));
}
