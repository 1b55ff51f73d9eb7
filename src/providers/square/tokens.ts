import type { SquareClient } from 'square';
import { SettleError } from '../../core/errors.js';
import type { GrantStore, SellerGrant } from '../../core/provider.js';
import type { Logger } from '../../log/logger.js';
import type { SquareClients } from './client.js';
import { failureStatus, squareCall, toSettleError } from './errors.js';

/** Refresh a seller's access token when it expires within this (Square's last 30 days). */
export const DEFAULT_REFRESH_WINDOW_MS = 7 * 86_400_000;

export function revokedError(accountId: string, cause?: unknown): SettleError {
  return new SettleError(
    'provider_account_revoked',
    'The seller is no longer connected to Square (access revoked); they must reconnect.',
    { details: { provider: 'square', accountId }, ...(cause !== undefined ? { cause } : {}) },
  );
}

export interface SellerTokensOptions {
  /** The application's credentials (ObtainToken authenticates the application with them). */
  config: { applicationId: string; applicationSecret: string };
  grants: GrantStore;
  clients: SquareClients;
  refreshWindowMs: number;
  now: () => Date;
  log: Logger;
}

/**
 * Sellers' OAuth access tokens: loaded from the GrantStore, refreshed ahead of expiry or after a 401, and used for
 * every call on a seller's account. Tokens never leave this object except inside the SDK client's auth header.
 *
 * Concurrent refreshes (two requests here, or two Settle instances) are harmless: code-flow refresh tokens are
 * multi-use and never expire, and a refresh does not invalidate access tokens issued before it, so whichever
 * `grants.update` lands last stores a valid token. In process, one refresh per account is shared anyway.
 */
export class SellerTokens {
  private readonly opts: SellerTokensOptions;
  private readonly inFlight = new Map<string, Promise<SellerGrant>>();

  constructor(opts: SellerTokensOptions) {
    this.opts = opts;
  }

  /** The seller's grant with a token that is not about to expire; `provider_account_revoked` when there is none. */
  async grant(accountId: string): Promise<SellerGrant> {
    const g = await this.opts.grants.load(accountId);
    if (g === null) throw revokedError(accountId);
    const expires = g.expiresAt?.getTime();
    const now = this.opts.now().getTime();
    if (expires === undefined || expires - now > this.opts.refreshWindowMs) return g;
    try {
      return await this.refresh(accountId, g);
    } catch (err) {
      // Square unavailable for the refresh while the current token still works: use it, refresh next time.
      if (expires > now && !(err instanceof SettleError && err.code === 'provider_account_revoked')) {
        this.opts.log.warn(
          { accountId, code: err instanceof SettleError ? err.code : null },
          'square refresh failed; current token used',
        );
        return g;
      }
      throw err;
    }
  }

  /** Refreshes the seller's access token now (shared with a refresh already running for the same account). */
  refresh(accountId: string, current?: SellerGrant): Promise<SellerGrant> {
    const running = this.inFlight.get(accountId);
    if (running !== undefined) return running;
    const p = this.doRefresh(accountId, current).finally(() => this.inFlight.delete(accountId));
    this.inFlight.set(accountId, p);
    return p;
  }

  private async doRefresh(accountId: string, current?: SellerGrant): Promise<SellerGrant> {
    const g = current ?? (await this.opts.grants.load(accountId));
    if (g === null) throw revokedError(accountId);
    if (g.refreshToken === null) throw revokedError(accountId);
    const refreshToken = g.refreshToken;
    const answer = await squareCall(
      'oauth.refresh',
      () =>
        this.opts.clients.unauthenticated().oAuth.obtainToken({
          clientId: this.opts.config.applicationId,
          clientSecret: this.opts.config.applicationSecret,
          grantType: 'refresh_token',
          refreshToken,
        }),
      'seller',
    ).catch((err: unknown) => {
      // 401: Square refused the refresh token (the seller revoked the application). Anything else (an outage, a
      // 400 from a mistake of Settle's) says nothing about the grant and must never mark the seller revoked.
      if (failureStatus(err) === 401) {
        this.opts.log.warn({ accountId }, 'square refresh refused: seller access revoked');
        throw revokedError(accountId, err);
      }
      throw err;
    });
    if (answer.accessToken === undefined || answer.accessToken === '')
      throw new SettleError('provider_error', 'Square answered a token refresh without an access token');
    const next: SellerGrant = {
      ...g,
      accessToken: answer.accessToken,
      refreshToken: answer.refreshToken ?? g.refreshToken,
      expiresAt: parseExpiry(answer.expiresAt),
    };
    await this.opts.grants.update(accountId, {
      accessToken: next.accessToken,
      refreshToken: next.refreshToken,
      expiresAt: next.expiresAt,
    });
    this.opts.log.info(
      { accountId, expiresAt: next.expiresAt?.toISOString() ?? null },
      'square token refreshed',
    );
    return next;
  }

  /**
   * Runs `fn` with a client on the seller's token. A 401 (the token expired early or was revoked alone) refreshes
   * once and runs `fn` again; a second 401, or a refused refresh, is `provider_account_revoked`. Every other failure
   * is mapped by `toSettleError`.
   */
  async run<T>(
    accountId: string,
    operation: string,
    fn: (client: SquareClient, grant: SellerGrant) => Promise<T>,
  ): Promise<T> {
    const g = await this.grant(accountId);
    try {
      return await fn(this.opts.clients.forToken(g.accessToken), g);
    } catch (err) {
      if (failureStatus(err) !== 401) throw toSettleError(err, operation, 'seller');
    }
    const fresh = await this.refresh(accountId, g);
    try {
      return await fn(this.opts.clients.forToken(fresh.accessToken), fresh);
    } catch (err) {
      if (failureStatus(err) === 401) throw revokedError(accountId, toSettleError(err, operation, 'seller'));
      throw toSettleError(err, operation, 'seller');
    }
  }
}

/** Square's `expires_at` (RFC 3339) as a Date, or null when absent or unreadable. */
export function parseExpiry(value: string | undefined): Date | null {
  if (value === undefined) return null;
  const ms = Date.parse(value);
  return Number.isNaN(ms) ? null : new Date(ms);
}
