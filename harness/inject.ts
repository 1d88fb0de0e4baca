import { inject } from 'vitest';

declare module 'vitest' {
  export interface ProvidedContext {
    amqpUrl: string;
    zkConnect: string;
  }
}

/** Addresses of the servers harness/global-setup.ts found or started for this run. */
export function testServers(): { amqpUrl: string; zkConnect: string } {
  return { amqpUrl: inject('amqpUrl'), zkConnect: inject('zkConnect') };
}
