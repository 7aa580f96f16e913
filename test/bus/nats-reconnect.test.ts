import { afterEach, describe, expect, it } from 'vitest';
import { NatsBus } from '../../bus/nats-bus.ts';
import { TenureError } from '../../errors/errors.ts';
import { silentLogger } from '../../log/logger.ts';
import { startNatsServer, type NatsServerHandle } from '../support/nats-server.ts';

const cleanups: Array<() => Promise<void>> = [];
afterEach(async () => {
  while (cleanups.length) await cleanups.pop()!();
});

async function own(): Promise<NatsServerHandle> {
  const srv = await startNatsServer();
  cleanups.push(() => srv.stop());
  return srv;
}

describe('NatsBus with its own nats-server', () => {
  it('survives a server restart: requests fail with typed errors meanwhile, then work again', async () => {
    const srv = await own();
    const opts = { logger: silentLogger, reconnectTimeWaitMs: 250, closeTimeoutMs: 500 };
    const server = await NatsBus.connect(srv.url, { name: 'srv', ...opts });
    const client = await NatsBus.connect(srv.url, { name: 'cli', ...opts });
    cleanups.push(() => server.close(), () => client.close());
    server.serve('svc.ping', () => ({ pong: true }));
    await server.flush();
    expect(await client.request('svc.ping', {}, { deadlineMs: 2000 })).toEqual({ pong: true });

    await srv.stop();
    const err = await client.request('svc.ping', {}, { deadlineMs: 200 }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(TenureError);
    expect(['Timeout', 'NoResponders']).toContain((err as TenureError).code);

    const again = await startNatsServer({ port: srv.port });
    cleanups.push(() => again.stop());
    let reply: unknown;
    for (let i = 0; i < 100 && reply === undefined; i++) {
      reply = await client.request('svc.ping', {}, { deadlineMs: 200 }).catch(() => undefined);
      if (reply === undefined) await new Promise((r) => setTimeout(r, 100));
    }
    expect(reply).toEqual({ pong: true });
  });

  it('close() does not hang while the server is gone', async () => {
    const srv = await own();
    const bus = await NatsBus.connect(srv.url, { name: 'orphan', logger: silentLogger, closeTimeoutMs: 300 });
    bus.serve('svc.x', () => ({}));
    await srv.stop();
    const started = Date.now();
    await bus.close();
    expect(Date.now() - started).toBeLessThan(3000);
    expect(bus.nc.isClosed()).toBe(true);
  });
});
