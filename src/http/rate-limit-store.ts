import type { FastifyRateLimitStore, FastifyRateLimitStoreCtor } from '@fastify/rate-limit';
import { Redis } from 'ioredis';
import { sql } from 'kysely';
import type { Db } from '../db/connect.js';
import type { Logger } from '../log/logger.js';

/**
 * Shared stores for @fastify/rate-limit, so that several Settle instances draw on one budget per client:
 *
 * - PostgreSQL (the default): table `rate_limits`, one row per (route, client key) holding the start of its current
 *   window and its count. Each hit is one atomic `INSERT … ON CONFLICT (key) DO UPDATE SET count = count + 1 …
 *   RETURNING`; a window that has ended is restarted by the same statement. Windows are timed by the database's
 *   clock, so instances never disagree on them. Rows of ended windows are deleted lazily, at most once per window per
 *   route and instance.
 * - Redis, when REDIS_URL is set: the plugin's own Redis store (`INCR` + `PEXPIRE` in a Lua script).
 *
 * The limiter runs with `skipOnError`: if the store is unreachable a request is let through (and the failure
 * logged) rather than refused, because the limiter protects capacity; it must not turn a store outage into a
 * checkout outage.
 */

interface RateLimitResult {
  current: number;
  ttl: number;
}
type Callback = (error: Error | null, result?: RateLimitResult) => void;

/** The route the plugin hands to `child()` (it merges `{ routeInfo: routeOptions }` into the route's options). */
function routeKey(options: unknown): string {
  if (typeof options !== 'object' || options === null || !('routeInfo' in options)) return '';
  const info: unknown = options.routeInfo;
  if (typeof info !== 'object' || info === null) return '';
  const method = 'method' in info ? info.method : undefined;
  const url = 'url' in info ? info.url : undefined;
  const m = Array.isArray(method) ? method.join(',') : typeof method === 'string' ? method : '';
  return `${m}${typeof url === 'string' ? url : ''}`;
}

const errMessage = (err: unknown): string => (err instanceof Error ? err.message : String(err));

class PostgresRateLimitStore implements FastifyRateLimitStore {
  private lastPurge = 0;

  constructor(
    private readonly db: Db,
    private readonly logger: Logger,
    private readonly prefix: string,
  ) {}

  incr(key: string, callback: Callback, timeWindow: number, _max: number): void {
    this.hit(`${this.prefix}${key}`, timeWindow).then(
      (res) => callback(null, res),
      (err: unknown) => {
        this.logger.warn({ err: errMessage(err) }, 'rate limit store failed; request let through');
        callback(err instanceof Error ? err : new Error(String(err)));
      },
    );
  }

  /** The current state without counting a hit (`createRateLimit()(req, { increment: false })`). */
  read(key: string, callback: Callback, timeWindow: number): void {
    sql<{ count: number; ttl: number }>`
      SELECT count, (extract(epoch FROM window_start - now()) * 1000 + ${timeWindow})::float8 AS ttl
      FROM rate_limits WHERE key = ${`${this.prefix}${key}`}`
      .execute(this.db)
      .then(
        (r) => {
          const row = r.rows[0];
          callback(
            null,
            row !== undefined && row.ttl > 0
              ? { current: row.count, ttl: Math.ceil(row.ttl) }
              : {
                  current: 0,
                  ttl: 0,
                },
          );
        },
        (err: unknown) => callback(err instanceof Error ? err : new Error(String(err))),
      );
  }

  child(routeOptions: Parameters<FastifyRateLimitStore['child']>[0]): FastifyRateLimitStore {
    return new PostgresRateLimitStore(this.db, this.logger, `${this.prefix}${routeKey(routeOptions)}|`);
  }

  private async hit(key: string, timeWindow: number): Promise<RateLimitResult> {
    const window = sql`(${timeWindow} * interval '1 millisecond')`;
    const r = await sql<{ count: number; ttl: number }>`
      INSERT INTO rate_limits AS r (key, window_start, count) VALUES (${key}, now(), 1)
      ON CONFLICT (key) DO UPDATE SET
        window_start = CASE WHEN r.window_start <= now() - ${window} THEN now() ELSE r.window_start END,
        count = CASE WHEN r.window_start <= now() - ${window} THEN 1 ELSE r.count + 1 END
      RETURNING count, (extract(epoch FROM window_start - now()) * 1000 + ${timeWindow})::float8 AS ttl`.execute(
      this.db,
    );
    const row = r.rows[0];
    if (row === undefined) throw new Error('rate limit upsert returned no row');
    this.purgeLazily(timeWindow);
    return { current: row.count, ttl: Math.max(0, Math.ceil(row.ttl)) };
  }

  /** Deletes this route's rows whose window ended (an ended window counts as empty anyway). */
  private purgeLazily(timeWindow: number): void {
    const at = Date.now();
    if (at - this.lastPurge < timeWindow) return;
    this.lastPurge = at;
    sql`DELETE FROM rate_limits
        WHERE starts_with(key, ${this.prefix}) AND window_start <= now() - (${timeWindow} * interval '1 millisecond')`
      .execute(this.db)
      .catch((err: unknown) => this.logger.warn({ err: errMessage(err) }, 'rate limit purge failed'));
  }
}

/** A store constructor for `@fastify/rate-limit`'s `store` option, counting in the `rate_limits` table. */
export function postgresRateLimitStore(db: Db, logger: Logger): FastifyRateLimitStoreCtor {
  return class extends PostgresRateLimitStore {
    constructor() {
      super(db, logger, 'settle|');
    }
  };
}

/**
 * The Redis client for the rate limiter (REDIS_URL). Commands fail fast while Redis is unreachable (no offline
 * queue, one retry, 1 s timeout), so the limiter lets requests through instead of holding them; the client keeps
 * reconnecting in the background. Errors are logged, never thrown as unhandled events.
 */
export async function openRedis(url: string, logger: Logger): Promise<Redis> {
  const client = new Redis(url, {
    lazyConnect: true,
    enableOfflineQueue: false,
    maxRetriesPerRequest: 1,
    commandTimeout: 1000,
    connectTimeout: 5000,
  });
  let lastLogged = 0;
  client.on('error', (err: Error) => {
    // Reconnection attempts repeat the same error; log it at most every 10 s.
    if (Date.now() - lastLogged < 10_000) return;
    lastLogged = Date.now();
    logger.warn({ err: err.message }, 'redis (rate limits) unavailable');
  });
  await client.connect();
  return client;
}
