/**
 * vitest globalSetup: one nats-server (JetStream on, temp store dir, free port — never 4222) for
 * the whole run. Tests get its URL with `inject('natsUrl')` (see test/support/nats.ts).
 * Set TENURE_TEST_NATS_URL to use an already running server instead (e.g. `docker compose up nats`).
 */
import type { TestProject } from 'vitest/node';
import './support/provided-context.ts';
import { startNatsServer, type NatsServerHandle } from './support/nats-server.ts';

let server: NatsServerHandle | undefined;

export default async function setup(project: TestProject): Promise<() => Promise<void>> {
  const external = process.env.TENURE_TEST_NATS_URL?.trim();
  if (external) {
    project.provide('natsUrl', external);
    return async () => {};
  }
  server = await startNatsServer({ jetstream: true });
  project.provide('natsUrl', server.url);
  return async () => {
    await server?.stop();
    server = undefined;
  };
}
