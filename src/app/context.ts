import type { Config } from '../config/config.js';
import type { Db } from '../db/connect.js';
import type { PaymentProvider } from '../core/provider.js';
import type { Logger } from '../log/logger.js';
import type { QueueWorker } from '../queue/outbox.js';

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
