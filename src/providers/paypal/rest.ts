import axios, { type AxiosInstance } from 'axios';
import { PAYPAL_TIMEOUT_MS, withRetries, type PayPalApi } from './client.js';
import { SettleError } from '../../core/errors.js';
import { PayPalHttpError, type PayPalErrorBody } from './errors.js';

/**
 * Settle's small typed client for the PayPal REST endpoints the SDK has no controller for (provider-facts 9a:
 * Partner Referrals, merchant integrations, webhooks and their events). It authenticates with the SDK's own OAuth
 * token (`PayPalApi.accessToken()`: the token the SDK's `ClientCredentialsAuthManager` fetched, shared through
 * `PayPalTokens`), goes through the same axios options (the emulator adapter when PAYPAL_API_BASE is set), and
 * follows the same timeout and retry rules: GETs and POSTs with a PayPal-Request-Id are retried, nothing else.
 */

export type Json = string | number | boolean | null | Json[] | { [k: string]: Json };

export interface RestRequest<T> {
  method: 'GET' | 'POST';
  path: string;
  query?: Record<string, string>;
  body?: Json;
  /** PayPal-Request-Id: makes a POST safe to retry. */
  requestId?: string;
  headers?: Record<string, string>;
  /** Checks the answer's shape and types it; throws on anything else. */
  parse: (body: unknown) => T;
  /** Statuses that are an answer, not an error (e.g. 404 for "not found yet"); `parse` gets `{status}`. */
  accept?: readonly number[];
}

export class PayPalRest {
  private readonly http: AxiosInstance;

  constructor(private readonly api: PayPalApi) {
    this.http = axios.create({
      ...api.httpOptions,
      timeout: PAYPAL_TIMEOUT_MS,
      validateStatus: () => true,
      // The body is read as text and parsed here (never logged): axios' own JSON parsing is bypassed.
      responseType: 'text',
      transformResponse: [(d: unknown) => d],
      maxRedirects: 0,
    });
  }

  async request<T>(operation: string, req: RestRequest<T>): Promise<T> {
    const url = new URL(req.path, this.api.origin);
    for (const [k, v] of Object.entries(req.query ?? {})) url.searchParams.set(k, v);
    const safe = req.method === 'GET' || req.requestId !== undefined;
    return withRetries(
      operation,
      async () => {
        const token = await this.api.accessToken();
        const res = await this.http.request<string>({
          method: req.method,
          url: url.toString(),
          headers: {
            authorization: `Bearer ${token}`,
            accept: 'application/json',
            ...(req.body !== undefined ? { 'content-type': 'application/json' } : {}),
            ...(req.requestId !== undefined ? { 'paypal-request-id': req.requestId } : {}),
            ...req.headers,
          },
          ...(req.body !== undefined ? { data: JSON.stringify(req.body) } : {}),
        });
        const body = parseJson(res.data);
        if (req.accept?.includes(res.status)) return req.parse({ status: res.status });
        if (res.status < 200 || res.status >= 300)
          throw new PayPalHttpError(res.status, errorBody(body), operation);
        return req.parse(body);
      },
      { safe, retries: this.api.maxNetworkRetries, tokens: this.api.tokens },
    );
  }
}

function parseJson(text: unknown): unknown {
  if (typeof text !== 'string' || text.trim() === '') return undefined;
  try {
    return JSON.parse(text) as unknown;
  } catch {
    return undefined;
  }
}

function errorBody(v: unknown): PayPalErrorBody | undefined {
  if (!isRecord(v)) return undefined;
  const details = Array.isArray(v['details'])
    ? v['details'].filter(isRecord).map((d) => ({
        ...(typeof d['issue'] === 'string' ? { issue: d['issue'] } : {}),
        ...(typeof d['description'] === 'string' ? { description: d['description'] } : {}),
      }))
    : undefined;
  return {
    ...(typeof v['name'] === 'string' ? { name: v['name'] } : {}),
    ...(typeof v['message'] === 'string' ? { message: v['message'] } : {}),
    ...(typeof v['debug_id'] === 'string' ? { debug_id: v['debug_id'] } : {}),
    ...(typeof v['error'] === 'string' ? { error: v['error'] } : {}),
    ...(typeof v['error_description'] === 'string' ? { error_description: v['error_description'] } : {}),
    ...(details !== undefined ? { details } : {}),
  };
}

// ---------------------------------------------------------------- shape checks

export function isRecord(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

export function str(v: unknown): string | undefined {
  return typeof v === 'string' ? v : undefined;
}

export function bool(v: unknown): boolean | undefined {
  return typeof v === 'boolean' ? v : undefined;
}

export function records(v: unknown): Record<string, unknown>[] {
  return Array.isArray(v) ? v.filter(isRecord) : [];
}

/** A HATEOAS link's href by `rel`. */
export function linkHref(links: unknown, rel: string): string | undefined {
  return records(links)
    .filter((l) => l['rel'] === rel)
    .map((l) => str(l['href']))
    .find((h) => h !== undefined);
}

/** An answer that does not have the documented shape: a provider error (never retried, never guessed at). */
export function shapeError(what: string): SettleError {
  return new SettleError('provider_error', `PayPal returned ${what} without the expected fields`);
}
