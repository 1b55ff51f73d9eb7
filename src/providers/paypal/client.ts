import {
  Client,
  Environment,
  OrdersController,
  PaymentsController,
  type ClientCredentialsAuthManager,
  type OAuthToken,
} from '@paypal/paypal-server-sdk';
import axios, { type AxiosAdapter, type AxiosRequestConfig, type InternalAxiosRequestConfig } from 'axios';
import type { PayPalConfig } from '../../config/config.js';
import { isRetryable, paypalHttpFailure, toSettleError } from './errors.js';

/**
 * The official SDK client, configured for payments. Its defaults are dangerous here (provider-facts 9a): no
 * timeout at all, and no retries. Settle sets a per-request timeout and retries only what is safe to send twice:
 * GETs, and POSTs that carry a `PayPal-Request-Id` (PayPal answers a repeated id with the first request's result),
 * always with the same request id, because a retry re-runs the same call with the same arguments.
 */

/** Per-request timeout (the SDK's default is 0: wait for ever). */
export const PAYPAL_TIMEOUT_MS = 20_000;

/** PayPal's API origins (the SDK's closed `Environment` enum). */
export const PAYPAL_API_ORIGINS = {
  sandbox: 'https://api-m.sandbox.paypal.com',
  live: 'https://api-m.paypal.com',
} as const;

/**
 * Emulator only (PAYPAL_API_BASE): the SDK builds absolute api-m URLs and has no base-URL option, so an axios
 * adapter given through `unstable_httpClientOptions` rewrites each request's origin to the emulator's, keeping path
 * and query (provider-facts 9a). Without PAYPAL_API_BASE no adapter is set and the SDK behaves as shipped.
 */
export function apiBaseHttpClientOptions(apiBase: string | null): { adapter: AxiosAdapter } | undefined {
  if (apiBase === null) return undefined;
  const base = new URL(apiBase);
  const http = axios.getAdapter('http');
  const adapter: AxiosAdapter = (config: InternalAxiosRequestConfig) => {
    const target = new URL(config.url ?? '/', base);
    const rewritten = new URL(`${target.pathname}${target.search}`, base);
    return http({ ...config, baseURL: undefined, url: rewritten.toString() });
  };
  return { adapter };
}

/**
 * The OAuth token both the SDK's controllers and Settle's own REST calls use: the SDK fetches it through its
 * `ClientCredentialsAuthManager` (`POST /v1/oauth2/token` with the client id and secret), given to the SDK as its
 * `oAuthTokenProvider`, and Settle's REST client asks the same cache. One token, refreshed a minute before it
 * expires; concurrent callers share one fetch.
 */
export class PayPalTokens {
  private token: OAuthToken | undefined;
  private inflight: Promise<OAuthToken> | null = null;

  constructor(private readonly now: () => number = Date.now) {}

  private fresh(t: OAuthToken | undefined): t is OAuthToken {
    if (t === undefined) return false;
    if (t.expiry === undefined) return true;
    return Number(t.expiry) - 60 > this.now() / 1000;
  }

  /**
   * Forgets the cached token (PayPal answered 401: revoked or expired early); the next call fetches a new one. The
   * SDK keeps its own reference to the token and asks the provider again only once that token has expired, so the
   * shared object is marked expired as well.
   */
  invalidate(): void {
    if (this.token !== undefined) this.token.expiry = BigInt(0);
    this.token = undefined;
  }

  async get(manager: ClientCredentialsAuthManager): Promise<OAuthToken> {
    if (this.fresh(this.token)) return this.token;
    this.inflight ??= manager.fetchToken().then(
      (t) => {
        this.token = t;
        this.inflight = null;
        return t;
      },
      (err: unknown) => {
        this.inflight = null;
        throw err;
      },
    );
    return this.inflight;
  }
}

export interface PayPalApi {
  client: Client;
  orders: OrdersController;
  payments: PaymentsController;
  tokens: PayPalTokens;
  /** The bearer token of Settle's own REST calls (same token as the SDK's). */
  accessToken(): Promise<string>;
  /** The origin requests are addressed to (rewritten to PAYPAL_API_BASE by the adapter when set). */
  origin: string;
  /** Axios options shared by the SDK and Settle's REST client (the emulator adapter, or none). */
  httpOptions: AxiosRequestConfig;
  maxNetworkRetries: number;
}

/** Builds the SDK client from configuration (`config.clientId`/`clientSecret` must be set). */
export function createPayPalApi(config: PayPalConfig): PayPalApi {
  if (config.clientId === null || config.clientSecret === null)
    throw new Error(
      'createPayPalApi: PayPal is not configured (set PAYPAL_CLIENT_ID and PAYPAL_CLIENT_SECRET)',
    );
  const tokens = new PayPalTokens();
  const httpOptions = apiBaseHttpClientOptions(config.apiBase) ?? {};
  const client = new Client({
    clientCredentialsAuthCredentials: {
      oAuthClientId: config.clientId,
      oAuthClientSecret: config.clientSecret,
      oAuthTokenProvider: (_last, manager) => tokens.get(manager),
    },
    environment: config.mode === 'live' ? Environment.Production : Environment.Sandbox,
    timeout: PAYPAL_TIMEOUT_MS,
    // Retries are Settle's (`withRetries`): the SDK cannot tell a POST with a request id from one without.
    httpClientOptions: { timeout: PAYPAL_TIMEOUT_MS, retryConfig: { maxNumberOfRetries: 0 } },
    ...(config.apiBase !== null ? { unstable_httpClientOptions: httpOptions } : {}),
    // No `logging` option: the SDK then logs to its NullLogger (a logging option without a logger falls back to the
    // console, with request and response details).
  });
  return {
    client,
    orders: new OrdersController(client),
    payments: new PaymentsController(client),
    tokens,
    accessToken: async () => (await tokens.get(client.clientCredentialsAuthManager)).accessToken,
    origin: PAYPAL_API_ORIGINS[config.mode],
    httpOptions,
    maxNetworkRetries: config.maxNetworkRetries,
  };
}

/** Base delay of the retry backoff; doubled each attempt, ±20 % jitter, capped at 3 s. */
const RETRY_BASE_MS = 250;

function backoff(attempt: number): number {
  const d = Math.min(3000, RETRY_BASE_MS * 2 ** attempt);
  return Math.round(d * (0.8 + Math.random() * 0.4));
}

/**
 * Runs a PayPal call, retrying it while the failure is retryable (no answer, 408/409/429/5xx) and the call is
 * safe to repeat: `safe` is true for GETs and for POSTs that carry a PayPal-Request-Id. `fn` is called again with
 * the same arguments, so a retried POST sends the same request id. The last failure is mapped by toSettleError.
 */
export async function withRetries<T>(
  operation: string,
  fn: () => Promise<T>,
  opts: { safe: boolean; retries: number; tokens?: PayPalTokens },
): Promise<T> {
  let reauthorized = false;
  for (let attempt = 0; ; attempt++) {
    try {
      return await fn();
    } catch (err) {
      // A 401 means PayPal refused the token before doing anything (revoked, or expired before its stated expiry):
      // fetch a new one and try once more, whatever the method.
      if (opts.tokens !== undefined && !reauthorized && paypalHttpFailure(err)?.status === 401) {
        reauthorized = true;
        opts.tokens.invalidate();
        attempt -= 1;
        continue;
      }
      if (!opts.safe || attempt >= opts.retries || !isRetryable(err)) throw toSettleError(err, operation);
      await new Promise((r) => setTimeout(r, backoff(attempt)));
    }
  }
}
