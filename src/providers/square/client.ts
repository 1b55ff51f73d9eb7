import { SquareClient, SquareEnvironment } from 'square';
import type { SquareConfig } from '../../config/config.js';

/** Per-call timeout of Square requests (the SDK's default is 60 s). */
export const SQUARE_TIMEOUT_SECONDS = 30;

/** Square's OAuth authorize page origins (the API hosts serve it). */
export const SQUARE_CONNECT_ORIGINS = {
  sandbox: 'https://connect.squareupsandbox.com',
  production: 'https://connect.squareup.com',
} as const;

/** How many seller clients are kept (one per live access token); the cache is dropped when it grows past this. */
const MAX_CACHED_CLIENTS = 1000;

type ClientConfig = Pick<SquareConfig, 'environment' | 'apiBase' | 'maxNetworkRetries'>;

/**
 * Where the SDK sends requests: the emulator's base URL when set, else the configured environment. Never the SDK's
 * own default (production when neither is given).
 */
function target(config: ClientConfig): { baseUrl: string } | { environment: SquareEnvironment } {
  if (config.apiBase !== null) return { baseUrl: config.apiBase };
  return {
    environment:
      config.environment === 'production' ? SquareEnvironment.Production : SquareEnvironment.Sandbox,
  };
}

/** The origin of Square's OAuth authorize page for this configuration. */
export function squareConnectOrigin(config: ClientConfig): string {
  return config.apiBase ?? SQUARE_CONNECT_ORIGINS[config.environment];
}

/**
 * Builds SquareClients for one configuration: one per token (a seller's OAuth token or the application's personal
 * access token), and one without Bearer auth for the OAuth endpoints that authenticate the application by its
 * secret. Every client retries (the SDK retries every method, POST included, on 408/429/5xx), so every mutating
 * call Settle makes carries an idempotency key.
 */
export class SquareClients {
  private readonly config: ClientConfig;
  private readonly byToken = new Map<string, SquareClient>();
  private anonymous: SquareClient | null = null;

  constructor(config: ClientConfig) {
    this.config = config;
  }

  /** A client sending `Authorization: Bearer <token>`. */
  forToken(token: string): SquareClient {
    const cached = this.byToken.get(token);
    if (cached !== undefined) return cached;
    if (this.byToken.size >= MAX_CACHED_CLIENTS) this.byToken.clear();
    const client = new SquareClient({
      token,
      ...target(this.config),
      maxRetries: this.config.maxNetworkRetries,
      timeoutInSeconds: SQUARE_TIMEOUT_SECONDS,
    });
    this.byToken.set(token, client);
    return client;
  }

  /**
   * A client without Bearer auth (`auth: false`, so the SDK never falls back to a SQUARE_TOKEN environment
   * variable): ObtainToken authenticates with the body's client secret, RevokeToken with `Authorization: Client`.
   */
  unauthenticated(): SquareClient {
    this.anonymous ??= new SquareClient({
      auth: false,
      ...target(this.config),
      maxRetries: this.config.maxNetworkRetries,
      timeoutInSeconds: SQUARE_TIMEOUT_SECONDS,
    });
    return this.anonymous;
  }
}
