import type { Config } from '../config/config.js';
import type { OpenedDb } from '../db/connect.js';
import { providerRegistry, type AppContext } from '../core/context.js';
import type { PaymentProvider } from '../core/provider.js';
import type { Logger } from '../log/logger.js';
import { registerRefundJobs } from '../core/refunds.js';
import { registerSubscriptionEffects } from '../core/subscriptions/effects.js';
import { registerCoreEffects, registerRefundNotice } from '../queue/effects.js';
import { QueueWorker } from '../queue/outbox.js';

export type { AppContext } from '../core/context.js';

/**
 * Builds the context and its side-effect queue with every job handler registered. The server and the CLIs
 * (reconcile) share this, so a job queued by one can always be run by the other. `providers` are the configured
 * providers in the platform's order of preference.
 */
export function createContext(input: {
  config: Config;
  opened: OpenedDb;
  providers: readonly PaymentProvider[];
  logger: Logger;
}): AppContext {
  const queue = new QueueWorker(input.opened.db, {
    pollMs: input.config.queuePollMs,
    logger: input.logger.child({ component: 'queue' }),
  });
  const ctx: AppContext = {
    config: input.config,
    db: input.opened.db,
    dbKind: input.opened.kind,
    logger: input.logger,
    providers: providerRegistry(input.providers),
    queue,
    now: () => new Date(),
  };
  registerCoreEffects(queue);
  registerRefundNotice(queue);
  registerRefundJobs(queue, ctx);
  registerSubscriptionEffects(queue, input.config);
  return ctx;
}
