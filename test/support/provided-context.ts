/**
 * Values test/global-setup.ts hands to every test file through vitest's provide/inject.
 * Tests read them with `inject('natsUrl')` (or `natsUrl()` from test/support/nats.ts).
 */
export {};

declare module 'vitest' {
  export interface ProvidedContext {
    /** URL of the nats-server shared by the whole test run (JetStream enabled). */
    natsUrl: string;
  }
}
