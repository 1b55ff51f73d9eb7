import type { Config } from '../config/config.js';
import type { Db, OpenedDb } from '../db/connect.js';
import type { PaymentProvider } from '../core/provider.js';
import type { Logger } from '../log/logger.js';
import { registerRefundJobs } from '../core/refunds.js';
import { registerCoreEffects, registerRefundNotice } from '../queue/effects.js';
import { QueueWorker } from '../queue/outbox.js';

/** Everything a route or job needs, built once in src/app/create.ts and passed down (no globals). */
export interface AppContext {
  config: Config;
  db: Db;
  dbKind: 'server' | 'embedded';
  logger: Logger;
  provider: PaymentProvider;
  queue: QueueWorker;
  now: () => Date;
}

/**
 * Builds the context and its side-effect queue with every job handler registered. The server and the CLIs
 * (reconcile) share this, so a job queued by one can always be run by the other.
 */
export function createContext(input: {
  config: Config;
  opened: OpenedDb;
  provider: PaymentProvider;
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
    provider: input.provider,
    queue,
    now: () => new Date(),
  };
  registerCoreEffects(queue);
  registerRefundNotice(queue);
  registerRefundJobs(queue, ctx);
  return ctx;
}
