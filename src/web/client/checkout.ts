/**
 * Settle browser checkout client: framework-free, no dependencies, safe to copy into any frontend.
 *
 *   const { checkoutUrl } = await startCheckout({ slotId, quantity: 1 });
 *   location.assign(checkoutUrl);               // the provider's hosted page; card data never touches you
 *
 *   // on the success URL (/checkout/return?order=ord_…):
 *   const outcome = await confirmOnReturn(orderId, { onState: (s) => render(s) });
 *
 * See docs/client.md.
 */

export type OrderStatus =
  | 'pending'
  | 'processing'
  | 'paid'
  | 'paid_oversold'
  | 'needs_review'
  | 'failed'
  | 'expired'
  | 'canceled'
  | 'refunded';

/** Statuses that will not change on their own: the return page stops polling on these. */
export const TERMINAL_STATUSES: readonly OrderStatus[] = [
  'paid',
  'paid_oversold',
  'needs_review',
  'failed',
  'expired',
  'canceled',
  'refunded',
];

const KNOWN_STATUSES: readonly string[] = ['pending', 'processing', ...TERMINAL_STATUSES];

export function isTerminal(status: OrderStatus): boolean {
  return TERMINAL_STATUSES.includes(status);
}

export type FetchLike = (input: string, init?: RequestInit) => Promise<Response>;

/** An error answered by the Settle API (`code` is stable, see docs/api.md) or a network failure (`network_error`). */
export class CheckoutError extends Error {
  readonly code: string;
  /** HTTP status; 0 for a network failure. */
  readonly status: number;
  readonly details: Record<string, unknown> | undefined;
  /** From `Retry-After` on 503 answers. */
  readonly retryAfterMs: number | undefined;

  constructor(
    code: string,
    message: string,
    status: number,
    extra: { details?: Record<string, unknown>; retryAfterMs?: number; cause?: unknown } = {},
  ) {
    super(message, extra.cause === undefined ? undefined : { cause: extra.cause });
    this.name = 'CheckoutError';
    this.code = code;
    this.status = status;
    this.details = extra.details;
    this.retryAfterMs = extra.retryAfterMs;
  }

  /** True when re-sending the same request later may succeed (network, 5xx, rate limit, in-flight). */
  get retryable(): boolean {
    return (
      this.status === 0 ||
      this.status >= 500 ||
      this.status === 429 ||
      this.code === 'idempotency_key_in_flight'
    );
  }
}

function isRecord(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/** POSTs JSON and returns the parsed body, or throws CheckoutError with the API's code and message. */
export async function postJson(
  fetchFn: FetchLike,
  url: string,
  body: unknown,
  headers: Record<string, string> = {},
): Promise<Record<string, unknown>> {
  let res: Response;
  try {
    res = await fetchFn(url, {
      method: 'POST',
      headers: { 'content-type': 'application/json', accept: 'application/json', ...headers },
      body: JSON.stringify(body),
      credentials: 'same-origin',
    });
  } catch (err) {
    throw new CheckoutError('network_error', 'Could not reach the server; check your connection.', 0, {
      cause: err,
    });
  }
  const parsed: unknown = await res.json().catch(() => null);
  if (!res.ok) {
    const e = isRecord(parsed) && isRecord(parsed.error) ? parsed.error : {};
    const retryAfter = Number(res.headers.get('retry-after'));
    throw new CheckoutError(
      typeof e.code === 'string' ? e.code : 'http_error',
      typeof e.message === 'string' ? e.message : `Request failed with HTTP ${res.status}.`,
      res.status,
      {
        ...(isRecord(e.details) ? { details: e.details } : {}),
        ...(Number.isFinite(retryAfter) && retryAfter > 0 ? { retryAfterMs: retryAfter * 1000 } : {}),
      },
    );
  }
  if (!isRecord(parsed))
    throw new CheckoutError('invalid_response', 'The server answered an unexpected body.', res.status);
  return parsed;
}

// ---------------------------------------------------------------------------------------------------------
// startCheckout
// ---------------------------------------------------------------------------------------------------------

export interface CheckoutIntent {
  slotId: string;
  quantity: number;
  promotionCode?: string;
  email?: string;
  /** The provider the buyer pays through (`seller.providers` of the listing); default: the platform's choice. */
  provider?: string;
}

export interface StartedCheckout {
  orderId: string;
  checkoutUrl: string;
  expiresAt: string | null;
}

export interface StartCheckoutOptions {
  /** Defaults to the global fetch. */
  fetch?: FetchLike;
  /** Prefix for the API path, e.g. `https://shop.example` (default: same origin). */
  baseUrl?: string;
  /** Extra attempts after a retryable failure (network, 5xx, key in flight), with the same key. Default 2. */
  retries?: number;
  /** Delay between those attempts (ms), default 400. */
  retryDelayMs?: number;
  /**
   * Key generator, default `newIdempotencyKey()` (a random UUID v4). Settle accepts only unguessable keys on
   * `POST /api/checkout` (a UUID v4, or at least 128 random bits as ≥ 32 hex or ≥ 22 base64url characters) and
   * answers anything else with `400 idempotency_key_invalid`.
   */
  newKey?: () => string;
  sleep?: (ms: number) => Promise<void>;
}

/**
 * A random UUID v4 for `Idempotency-Key`: `crypto.randomUUID()` where the page is a secure context, otherwise
 * built from `crypto.getRandomValues()` (available on plain http too), never from `Math.random()`. The key is the
 * only thing that keeps one buyer's checkout from another's, so it must be unguessable.
 */
export function newIdempotencyKey(): string {
  const c = globalThis.crypto;
  if (typeof c.randomUUID === 'function') return c.randomUUID();
  const b = c.getRandomValues(new Uint8Array(16));
  b[6] = ((b[6] ?? 0) & 0x0f) | 0x40; // version 4
  b[8] = ((b[8] ?? 0) & 0x3f) | 0x80; // RFC 4122 variant
  const hex = Array.from(b, (x) => x.toString(16).padStart(2, '0')).join('');
  return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-${hex.slice(12, 16)}-${hex.slice(16, 20)}-${hex.slice(20)}`;
}

interface IntentEntry {
  key: string;
  inFlight: Promise<StartedCheckout> | null;
}

/** One idempotency key per user intent for the lifetime of the page (see forgetCheckoutIntents). */
const intents = new Map<string, IntentEntry>();

function normalizeIntent(intent: CheckoutIntent): CheckoutIntent {
  const promotionCode = intent.promotionCode?.trim();
  const email = intent.email?.trim();
  return {
    slotId: intent.slotId,
    quantity: intent.quantity,
    ...(promotionCode ? { promotionCode: promotionCode.toUpperCase() } : {}),
    ...(email ? { email } : {}),
    ...(intent.provider ? { provider: intent.provider } : {}),
  };
}

function fingerprint(intent: CheckoutIntent): string {
  return JSON.stringify([
    intent.slotId,
    intent.quantity,
    intent.promotionCode ?? '',
    intent.email ?? '',
    intent.provider ?? '',
  ]);
}

const defaultSleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

/**
 * Starts a hosted checkout for one user intent and returns where to send the browser.
 *
 * Idempotency: the first call for an intent (slot, quantity, promotion code, email) generates an
 * `Idempotency-Key`; re-sending the same intent reuses it, so a double click, a retry after a timeout or a
 * second tab on the same page makes exactly one order. A concurrent call for the same intent returns the same
 * promise (one request). After a definitive refusal (4xx such as `slot_unavailable`) the key is dropped so
 * the user can try again once the situation changed. Call `forgetCheckoutIntents()` when the page is shown
 * again from the back/forward cache, so an abandoned checkout is not replayed.
 *
 * Throws CheckoutError with the API's `code` and `message`.
 */
export function startCheckout(
  intent: CheckoutIntent,
  opts: StartCheckoutOptions = {},
): Promise<StartedCheckout> {
  if (!Number.isInteger(intent.quantity) || intent.quantity < 1) {
    return Promise.reject(
      new CheckoutError('validation_failed', 'Quantity must be a whole number of at least 1.', 400),
    );
  }
  const body = normalizeIntent(intent);
  const fp = fingerprint(body);
  let entry = intents.get(fp);
  if (entry?.inFlight) return entry.inFlight;
  if (!entry) {
    entry = { key: (opts.newKey ?? newIdempotencyKey)(), inFlight: null };
    intents.set(fp, entry);
  }
  const current = entry;
  const fetchFn = opts.fetch ?? ((input, init) => fetch(input, init));
  const sleep = opts.sleep ?? defaultSleep;
  const retries = opts.retries ?? 2;
  const url = `${opts.baseUrl ?? ''}/api/checkout`;

  const run = async (): Promise<StartedCheckout> => {
    for (let attempt = 0; ; attempt++) {
      try {
        const res = await postJson(fetchFn, url, body, { 'idempotency-key': current.key });
        if (typeof res.orderId !== 'string' || typeof res.checkoutUrl !== 'string') {
          throw new CheckoutError('invalid_response', 'The server answered without a checkout URL.', 200);
        }
        return {
          orderId: res.orderId,
          checkoutUrl: res.checkoutUrl,
          expiresAt: typeof res.expiresAt === 'string' ? res.expiresAt : null,
        };
      } catch (err) {
        const e =
          err instanceof CheckoutError
            ? err
            : new CheckoutError('client_error', err instanceof Error ? err.message : String(err), 0, {
                cause: err,
              });
        if (e.retryable && attempt < retries) {
          await sleep(e.retryAfterMs ?? (opts.retryDelayMs ?? 400) * (attempt + 1));
          continue;
        }
        // A definitive refusal: the same key would only replay it, so the next attempt gets a fresh key.
        if (!e.retryable) intents.delete(fp);
        throw e;
      }
    }
  };
  current.inFlight = run().finally(() => {
    current.inFlight = null;
  });
  return current.inFlight;
}

/** Forgets every remembered intent key (call on `pageshow` with `event.persisted`, or after leaving checkout). */
export function forgetCheckoutIntents(): void {
  intents.clear();
}

// ---------------------------------------------------------------------------------------------------------
// confirmOnReturn
// ---------------------------------------------------------------------------------------------------------

/** `confirming` is reported before the first answer and after a transient error; otherwise the order status. */
export type ConfirmState = OrderStatus | 'confirming';

export interface ConfirmStateInfo {
  attempt: number;
  /** Delay before the next attempt, when there is one. */
  nextDelayMs?: number;
  /** The transient error that caused a `confirming` report, if any. */
  error?: CheckoutError;
}

export interface ConfirmOptions {
  onState?: (state: ConfirmState, info: ConfirmStateInfo) => void;
  /** Total verify calls, default 12. */
  maxAttempts?: number;
  /** First backoff cap (ms), default 500; doubles each attempt. */
  baseDelayMs?: number;
  /** Upper bound of any single delay (ms), default 8000. */
  maxDelayMs?: number;
  fetch?: FetchLike;
  baseUrl?: string;
  /** Random source in [0, 1) for jitter (tests inject a fixed one). */
  random?: () => number;
  sleep?: (ms: number) => Promise<void>;
  signal?: AbortSignal;
}

export interface ConfirmOutcome {
  /** Last known order status; `null` if the server never answered. */
  status: OrderStatus | null;
  /** True when the status is terminal; false for `pending`/`processing`/unknown after the attempts ran out. */
  final: boolean;
  attempts: number;
}

/** Full jitter: a uniform delay in [0, min(maxDelayMs, baseDelayMs · 2^attempt)). `attempt` counts from 0. */
export function backoffDelay(
  attempt: number,
  baseDelayMs: number,
  maxDelayMs: number,
  random: () => number,
): number {
  const cap = Math.min(maxDelayMs, baseDelayMs * 2 ** Math.min(attempt, 30));
  return Math.floor(random() * cap);
}

/**
 * Confirms an order after the provider redirected back: calls `POST /api/checkout/verify` (the server asks
 * the provider directly, so this works even if no webhook ever arrives) with exponential backoff and full
 * jitter, reports every state through `onState`, and stops on a terminal status. `processing` (a delayed
 * payment method) is a normal outcome, not an error: it is reported and polled until the attempts run out.
 *
 * Resolves with the last status; rejects only on a non-retryable API error (e.g. `not_found`) or abort.
 */
export async function confirmOnReturn(orderId: string, opts: ConfirmOptions = {}): Promise<ConfirmOutcome> {
  const maxAttempts = Math.max(1, opts.maxAttempts ?? 12);
  const baseDelayMs = opts.baseDelayMs ?? 500;
  const maxDelayMs = opts.maxDelayMs ?? 8000;
  const random = opts.random ?? Math.random;
  const sleep = opts.sleep ?? defaultSleep;
  const fetchFn = opts.fetch ?? ((input, init) => fetch(input, init));
  const report = opts.onState ?? (() => undefined);
  const url = `${opts.baseUrl ?? ''}/api/checkout/verify`;

  let status: OrderStatus | null = null;
  report('confirming', { attempt: 0 });
  for (let attempt = 1; attempt <= maxAttempts; attempt++) {
    if (opts.signal?.aborted) throw opts.signal.reason ?? new Error('aborted');
    const last = attempt === maxAttempts;
    const delay = backoffDelay(attempt - 1, baseDelayMs, maxDelayMs, random);
    try {
      const res = await postJson(fetchFn, url, { orderId });
      const s = res.status;
      if (typeof s !== 'string' || !KNOWN_STATUSES.includes(s)) {
        throw new CheckoutError('invalid_response', `Unknown order status '${String(s)}'.`, 200);
      }
      status = s as OrderStatus;
      if (isTerminal(status)) {
        report(status, { attempt });
        return { status, final: true, attempts: attempt };
      }
      report(status, last ? { attempt } : { attempt, nextDelayMs: delay });
    } catch (err) {
      if (!(err instanceof CheckoutError) || !err.retryable) throw err;
      const wait = Math.min(maxDelayMs, Math.max(delay, err.retryAfterMs ?? 0));
      // Keep showing the last real status if there was one; otherwise we are still confirming.
      report(
        status ?? 'confirming',
        last ? { attempt, error: err } : { attempt, nextDelayMs: wait, error: err },
      );
      if (!last) await sleep(wait);
      continue;
    }
    if (!last) await sleep(delay);
  }
  return { status, final: false, attempts: maxAttempts };
}
