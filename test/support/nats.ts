/** Test helpers for code that talks to the shared nats-server started by test/global-setup.ts. */
import './provided-context.ts';
import { inject } from 'vitest';
import { NatsBus, type NatsBusOptions } from '../../bus/nats-bus.ts';
import { silentLogger } from '../../log/logger.ts';

/** URL of the run's shared nats-server. */
export function natsUrl(): string {
  const url = inject('natsUrl');
  if (!url) throw new Error('natsUrl was not provided: is test/global-setup.ts configured as vitest globalSetup?');
  return url;
}

/** A NatsBus on the shared server (silent logger); close it in afterAll/afterEach. */
export function connectBus(opts: NatsBusOptions = {}): Promise<NatsBus> {
  return NatsBus.connect(natsUrl(), { name: 'tenure-test', logger: silentLogger, ...opts });
}

/** A subject prefix unique to this test file and run, so tests sharing the server never collide. */
export function uniqueCluster(tag = 't'): string {
  return `${tag}${process.pid}x${Math.random().toString(36).slice(2, 8)}`;
}
