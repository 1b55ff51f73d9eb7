import type { Config } from '../config/config.js';
import type { Db } from '../db/connect.js';
import type { ProviderId } from '../db/schema.js';
import type { Logger } from '../log/logger.js';
import type { QueueWorker } from '../queue/outbox.js';
import { SettleError } from './errors.js';
import type { PaymentProvider } from './provider.js';

/**
 * The providers this deployment has configured, in the platform's order of preference (the first one a seller is
 * ready on is a checkout's default). Every step of an order after checkout goes to `get(order.provider)`.
 */
export interface ProviderRegistry {
  readonly ids: readonly ProviderId[];
  has(id: ProviderId): boolean;
  /** The provider, or a 409 `provider_not_configured` naming it. */
  get(id: ProviderId): PaymentProvider;
  all(): readonly PaymentProvider[];
}

export function providerRegistry(providers: readonly PaymentProvider[]): ProviderRegistry {
  const byId = new Map(providers.map((p) => [p.id, p] as const));
  if (byId.size !== providers.length) throw new Error('a provider is registered twice');
  return {
    ids: providers.map((p) => p.id),
    has: (id) => byId.has(id),
    get: (id) => {
      const p = byId.get(id);
      if (p === undefined)
        throw new SettleError(
          'provider_not_configured',
          `The ${id} provider is not configured on this platform.`,
        );
      return p;
    },
    all: () => providers,
  };
}

/**
 * Everything core code, routes and jobs receive: built once in src/app/context.ts (the wiring) and passed down,
 * no globals. Core depends on this type only, never on the wiring layer.
 */
export interface AppContext {
  config: Config;
  db: Db;
  dbKind: 'server' | 'embedded';
  logger: Logger;
  providers: ProviderRegistry;
  queue: QueueWorker;
  now: () => Date;
}
