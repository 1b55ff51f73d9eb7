import { createHash } from 'node:crypto';
import type { Db } from '../db/connect.js';
import { looksTyped } from '../config/config.js';
import { SettleError } from '../core/errors.js';

/**
 * `Idempotency-Key` for our own POST endpoints (IETF draft semantics): the same key with the same body replays
 * the stored answer; the same key with a different body is 422; a retry while the first is in flight is 409.
 * Keys are scoped per route, and per client wherever the client is known (the operator token's fingerprint on
 * operator routes), and kept 24 hours. Server errors are not stored, so the client may retry them.
 *
 * Buyers are anonymous, so on public routes the key itself is the only thing that separates one buyer's stored
 * answer (order id, checkout URL) from another's: those routes accept only unguessable keys (`unguessable`).
 */

/** Operator routes: the scope names the client, so any well-formed key is safe. */
const SCOPED_KEY_RE = /^[A-Za-z0-9_.:-]{1,255}$/;
const UUID_V4_RE = /^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/i;
const HEX_RE = /^[0-9a-fA-F]+$/;
const BASE64URL_RE = /^[A-Za-z0-9_-]{1,255}$/;
/** Entropy an unguessable key must be able to carry (UUID v4's 122 random bits are accepted as such). */
export const MIN_KEY_BITS = 128;
export const IDEMPOTENCY_TTL_MS = 24 * 3_600_000;
/** An in-flight claim older than this is treated as abandoned. */
export const IN_FLIGHT_STALE_MS = 2 * 60_000;

export type KeyPolicy =
  /** Public routes: a UUID v4, or ≥ 128 random bits as ≥ 32 hex or ≥ 22 base64url characters. */
  | 'unguessable'
  /** Routes whose scope already names the client (operator token fingerprint): 1–255 of `[A-Za-z0-9_.:-]`. */
  | 'client-bound';

export const UNGUESSABLE_KEY_MESSAGE =
  'Idempotency-Key must be unguessable: a random UUID v4 (crypto.randomUUID()), or at least 128 random bits ' +
  'written as 32 or more hex characters or 22 or more base64url characters (up to 255).';

/**
 * True for a key a buyer can use on a public route (see `KeyPolicy` `unguessable`). Typed-looking strings
 * (`looksTyped()`: few distinct characters, a repeated pattern, runs) are refused; a random 32-hex or 22-base64url
 * string trips those checks only with negligible probability (< 10⁻¹¹).
 */
export function isUnguessableKey(key: string): boolean {
  if (UUID_V4_RE.test(key)) return !looksTyped(key.replaceAll('-', ''));
  if (!BASE64URL_RE.test(key)) return false;
  const bitsPerChar = HEX_RE.test(key) ? 4 : 6;
  return key.length * bitsPerChar >= MIN_KEY_BITS && !looksTyped(key);
}

/** Throws `idempotency_key_invalid` (400) when the key does not satisfy the route's policy. */
export function assertIdempotencyKey(key: string, policy: KeyPolicy): void {
  if (policy === 'unguessable') {
    if (!isUnguessableKey(key)) throw new SettleError('idempotency_key_invalid', UNGUESSABLE_KEY_MESSAGE);
    return;
  }
  if (!SCOPED_KEY_RE.test(key)) {
    throw new SettleError(
      'idempotency_key_invalid',
      'Idempotency-Key must be 1–255 characters of letters, digits, _ . : or -.',
    );
  }
}

/**
 * A fingerprint of a client credential (the operator token) for idempotency scopes: stored results are bound to
 * the credential that made them, and the credential itself is never stored.
 */
export function credentialFingerprint(credential: string): string {
  return createHash('sha256').update(`settle:idempotency-client:${credential}`).digest('hex').slice(0, 32);
}

/** The scope of a route whose caller presented `credential`: `<route> client:<fingerprint>`. */
export function clientScope(route: string, credential: string | null): string {
  return credential === null ? route : `${route} client:${credentialFingerprint(credential)}`;
}

/**
 * Hex sha256 of (scope, key): names one client request across re-runs without storing the raw key, e.g. the
 * order's `checkout_key`, so a re-run of the same checkout request resumes its order.
 */
export function idempotencyDigest(scope: string, key: string): string {
  return createHash('sha256').update(`${scope}\n${key}`).digest('hex');
}

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

export interface IdempotentRequest {
  /** The route, plus the client where it is known (`clientScope()`). */
  scope: string;
  /** The `Idempotency-Key` header; undefined runs the handler without idempotency. */
  key: string | undefined;
  body: unknown;
  policy: KeyPolicy;
  now?: Date;
}

/**
 * Runs `handler` at most once per (scope, key). Without a key it just runs the handler.
 * Returns the handler's (or the stored) status and body.
 */
export async function withIdempotency(
  db: Db,
  request: IdempotentRequest,
  handler: () => Promise<StoredResponse>,
): Promise<StoredResponse & { replayed: boolean }> {
  if (request.key === undefined) return { ...(await handler()), replayed: false };
  assertIdempotencyKey(request.key, request.policy);
  return run(db, request.scope, request.key, request.body, handler, request.now ?? new Date(), false);
}

async function run(
  db: Db,
  scope: string,
  key: string,
  requestBody: unknown,
  handler: () => Promise<StoredResponse>,
  now: Date,
  retried: boolean,
): Promise<StoredResponse & { replayed: boolean }> {
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
        return run(db, scope, key, requestBody, handler, now, true);
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
