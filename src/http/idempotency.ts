import { createHash } from 'node:crypto';
import type { Db } from '../db/connect.js';
import { SettleError } from '../core/errors.js';

/**
 * `Idempotency-Key` for our own POST endpoints (IETF draft semantics): the same key with the same body replays
 * the stored answer; the same key with a different body is 422; a retry while the first is in flight is 409.
 * Keys are scoped per route and kept 24 hours. Server errors are not stored, so the client may retry them.
 */

const KEY_RE = /^[A-Za-z0-9_.:-]{1,255}$/;
export const IDEMPOTENCY_TTL_MS = 24 * 3_600_000;
/** An in-flight claim older than this is treated as abandoned. */
export const IN_FLIGHT_STALE_MS = 2 * 60_000;

function canonical(value: unknown): string {
  if (Array.isArray(value)) return `[${value.map(canonical).join(',')}]`;
  if (value !== null && typeof value === 'object') {
    const entries = Object.entries(value as Record<string, unknown>).sort(([a], [b]) => (a < b ? -1 : 1));
    return `{${entries.map(([k, v]) => `${JSON.stringify(k)}:${canonical(v)}`).join(',')}}`;
  }
  return JSON.stringify(value) ?? 'null';
}

export interface StoredResponse {
  status: number;
  body: unknown;
}

/**
 * Runs `handler` at most once per (scope, key). Without a key it just runs the handler.
 * Returns the handler's (or the stored) status and body.
 */
export async function withIdempotency(
  db: Db,
  scope: string,
  key: string | undefined,
  requestBody: unknown,
  handler: () => Promise<StoredResponse>,
  now: Date = new Date(),
  retried = false,
): Promise<StoredResponse & { replayed: boolean }> {
  if (key === undefined) return { ...(await handler()), replayed: false };
  if (!KEY_RE.test(key)) {
    throw new SettleError(
      'idempotency_key_invalid',
      'Idempotency-Key must be 1–255 characters of letters, digits, _ . : or -.',
    );
  }
  const hash = createHash('sha256').update(canonical(requestBody)).digest('hex');
  // Expired keys are forgotten, so a key older than the TTL starts a new request.
  await db
    .deleteFrom('idempotency_keys')
    .where('scope', '=', scope)
    .where('key', '=', key)
    .where('created_at', '<', new Date(now.getTime() - IDEMPOTENCY_TTL_MS))
    .execute();
  const claimed = await db
    .insertInto('idempotency_keys')
    .values({
      scope,
      key,
      request_hash: hash,
      status: 'in_flight',
      response_status: null,
      response_body: null,
    })
    .onConflict((oc) => oc.columns(['scope', 'key']).doNothing())
    .returning('key')
    .executeTakeFirst();
  if (claimed === undefined) {
    const row = await db
      .selectFrom('idempotency_keys')
      .selectAll()
      .where('scope', '=', scope)
      .where('key', '=', key)
      .executeTakeFirstOrThrow();
    if (row.request_hash !== hash) {
      throw new SettleError(
        'idempotency_key_reused',
        'This Idempotency-Key was already used with a different request body.',
      );
    }
    if (row.status === 'in_flight' || row.response_status === null) {
      // A claim older than IN_FLIGHT_STALE_MS belongs to a request that died (crash, restart): release it once,
      // so the client's retry runs instead of waiting out the whole TTL.
      if (now.getTime() - row.created_at.getTime() > IN_FLIGHT_STALE_MS && !retried) {
        await db
          .deleteFrom('idempotency_keys')
          .where('scope', '=', scope)
          .where('key', '=', key)
          .where('status', '=', 'in_flight')
          .execute();
        return withIdempotency(db, scope, key, requestBody, handler, now, true);
      }
      throw new SettleError(
        'idempotency_key_in_flight',
        'A request with this Idempotency-Key is still being processed; retry shortly.',
      );
    }
    return { status: row.response_status, body: row.response_body, replayed: true };
  }
  let result: StoredResponse;
  try {
    result = await handler();
  } catch (err) {
    if (err instanceof SettleError && err.httpStatus < 500) {
      result = {
        status: err.httpStatus,
        body: {
          error: { code: err.code, message: err.message, ...(err.details ? { details: err.details } : {}) },
        },
      };
    } else {
      await db.deleteFrom('idempotency_keys').where('scope', '=', scope).where('key', '=', key).execute();
      throw err;
    }
  }
  await db
    .updateTable('idempotency_keys')
    .set({ status: 'done', response_status: result.status, response_body: JSON.stringify(result.body) })
    .where('scope', '=', scope)
    .where('key', '=', key)
    .execute();
  return { ...result, replayed: false };
}

/** Deletes keys past the TTL (run periodically; keys are also expired lazily on reuse). */
export async function purgeIdempotencyKeys(db: Db, now: Date = new Date()): Promise<number> {
  const res = await db
    .deleteFrom('idempotency_keys')
    .where('created_at', '<', new Date(now.getTime() - IDEMPOTENCY_TTL_MS))
    .executeTakeFirst();
  return Number(res.numDeletedRows);
}
