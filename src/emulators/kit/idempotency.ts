import type { Clock } from './clock.js';

/**
 * Idempotency replay, with the key rules left to the provider (a pluggable policy): where the key comes from (a
 * header such as Stripe's `Idempotency-Key` or PayPal's `PayPal-Request-Id`, or a body field such as Square's
 * `idempotency_key`), the namespace it lives in, what a replay must match, and the errors the provider answers.
 *
 * The kit's server applies it after authentication and strict parameter checking, so refused requests are never
 * recorded and can be retried; a recorded response (errors included, unless `keep` says otherwise) is replayed for
 * the same key, endpoint and parameters.
 */
export interface IdempotencyPolicy<C, B = C> {
  /**
   * The key the request carries, or null (nothing recorded). Called before authentication (the request log shows the
   * key of refused requests too), so it sees the bare request `B`; must not throw: refuse bad keys in `validate`.
   */
  keyOf(call: B): string | null;
  /** Refuses a malformed key by throwing the provider's error (e.g. longer than 255 characters). */
  validate?(key: string, call: C): void;
  /** The namespace of the key, e.g. API key + connected account, or the OAuth client. */
  scopeOf(call: C): string;
  /** What a replay must match besides the key and endpoint; default the raw body. */
  fingerprintOf?(call: C): string;
  /** The endpoint a key is bound to; default `METHOD /path`. */
  endpointOf?(call: C): string;
  /**
   * The error (a value the provider's error renderer understands) for a key first used on another endpoint or with
   * other parameters; return null to replay the stored response anyway (a provider that ignores the body on reuse).
   */
  mismatch(info: IdempotencyMismatch, call: C): unknown;
  /** The error while the first request with this key is still running (Stripe: 409 `idempotency_key_in_use`). */
  inFlight(key: string, call: C): unknown;
  /** Whether a finished response is kept for replay; default every status, errors included. */
  keep?(status: number): boolean;
  /** How long a key is kept, in clock ms; default while the emulator runs. */
  ttlMs?: number;
  /** Extra headers on a replayed response (e.g. `idempotent-replayed: true`). */
  replayHeaders?(entry: IdempotencyEntry, call: C): Record<string, string>;
}

export interface IdempotencyMismatch {
  key: string;
  endpoint: string;
  priorEndpoint: string;
  sameEndpoint: boolean;
  sameParams: boolean;
}

export interface IdempotencyEntry {
  endpoint: string;
  fingerprint: string;
  /** Request id of the request that recorded the entry. */
  requestId: string;
  /** Clock ms of the first request. */
  at: number;
  inFlight: boolean;
  status: number;
  body: unknown;
  headers: Record<string, string>;
}

export type IdempotencyDecision =
  | { kind: 'proceed'; complete(status: number, body: unknown, headers?: Record<string, string>): void }
  | { kind: 'replay'; entry: IdempotencyEntry }
  | { kind: 'mismatch'; info: IdempotencyMismatch; entry: IdempotencyEntry }
  | { kind: 'in_flight'; entry: IdempotencyEntry };

/** The recorded keys of one emulator, namespaced by scope. */
export class IdempotencyStore {
  private readonly entries = new Map<string, IdempotencyEntry>();

  constructor(private readonly clock: Clock) {}

  get size(): number {
    return this.entries.size;
  }

  get(scope: string, key: string): IdempotencyEntry | undefined {
    return this.entries.get(this.id(scope, key));
  }

  clear(): void {
    this.entries.clear();
  }

  /**
   * Looks the key up and, when it is new (or expired), records it as in flight: the caller then runs the request
   * and calls `complete` with the response.
   */
  begin(
    scope: string,
    key: string,
    request: { endpoint: string; fingerprint: string; requestId: string },
    opts: { ttlMs?: number; keep?: (status: number) => boolean } = {},
  ): IdempotencyDecision {
    const id = this.id(scope, key);
    const now = this.clock.now();
    const prior = this.entries.get(id);
    if (prior && !(opts.ttlMs !== undefined && !prior.inFlight && now - prior.at >= opts.ttlMs)) {
      const sameEndpoint = prior.endpoint === request.endpoint;
      const sameParams = prior.fingerprint === request.fingerprint;
      if (!sameEndpoint || !sameParams)
        return {
          kind: 'mismatch',
          entry: prior,
          info: { key, endpoint: request.endpoint, priorEndpoint: prior.endpoint, sameEndpoint, sameParams },
        };
      if (prior.inFlight) return { kind: 'in_flight', entry: prior };
      return { kind: 'replay', entry: prior };
    }
    const entry: IdempotencyEntry = {
      endpoint: request.endpoint,
      fingerprint: request.fingerprint,
      requestId: request.requestId,
      at: now,
      inFlight: true,
      status: 0,
      body: null,
      headers: {},
    };
    this.entries.set(id, entry);
    return {
      kind: 'proceed',
      complete: (status, body, headers = {}) => {
        if (this.entries.get(id) !== entry) return;
        if (opts.keep && !opts.keep(status)) {
          this.entries.delete(id);
          return;
        }
        entry.inFlight = false;
        entry.status = status;
        entry.body = body;
        entry.headers = headers;
      },
    };
  }

  private id(scope: string, key: string): string {
    return `${scope}\u0000${key}`;
  }
}
