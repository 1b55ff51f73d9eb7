import type { Square } from 'square';
import type { SquareConfig } from '../../config/config.js';
import { SettleError } from '../../core/errors.js';
import type { OAuthConnect, SellerAccountState, SellerGrant } from '../../core/provider.js';
import type { Logger } from '../../log/logger.js';
import { squareConnectOrigin, type SquareClients } from './client.js';
import { failureStatus, squareCall } from './errors.js';
import { parseExpiry, type SellerTokens } from './tokens.js';

/**
 * The OAuth permissions Settle asks every seller for, and needs: the merchant profile and locations, payments
 * (payment links take them; refunds), PAYMENTS_WRITE_ADDITIONAL_RECIPIENTS for the platform's app fee, orders
 * (payment links create them; Settle reads them back) and disputes.
 */
export const SQUARE_REQUIRED_SCOPES = [
  'MERCHANT_PROFILE_READ',
  'PAYMENTS_READ',
  'PAYMENTS_WRITE',
  'PAYMENTS_WRITE_ADDITIONAL_RECIPIENTS',
  'ORDERS_READ',
  'ORDERS_WRITE',
  'DISPUTES_READ',
] as const;

/** Why each scope is needed, for the message that names what a seller left out. */
const SCOPE_PURPOSE: Readonly<Record<string, string>> = {
  MERCHANT_PROFILE_READ: 'to read their business and locations',
  PAYMENTS_READ: 'to read their payments',
  PAYMENTS_WRITE: 'to take payments and refund them',
  PAYMENTS_WRITE_ADDITIONAL_RECIPIENTS: 'to take its fee',
  ORDERS_READ: 'to read their checkout orders',
  ORDERS_WRITE: 'to create checkouts',
  DISPUTES_READ: 'to follow disputes',
};

type AppConfig = SquareConfig & { applicationId: string; applicationSecret: string };

/** The location checkouts are created at: the first active one that can take cards, else the main (first) one. */
export function pickLocation(locations: readonly Square.Location[]): Square.Location | null {
  const canCharge = locations.find(locationCanCharge);
  return canCharge ?? locations[0] ?? null;
}

export function locationCanCharge(l: Square.Location): boolean {
  return l.status === 'ACTIVE' && (l.capabilities ?? []).includes('CREDIT_CARD_PROCESSING');
}

export function missingScopes(granted: readonly string[]): string[] {
  return SQUARE_REQUIRED_SCOPES.filter((s) => !granted.includes(s));
}

export function missingScopesMessage(missing: readonly string[]): string {
  const parts = missing.map((s) => `${s} (${SCOPE_PURPOSE[s] ?? 'required'})`);
  const list =
    parts.length === 1
      ? (parts[0] ?? '')
      : `${parts.slice(0, -1).join(', ')} and ${parts[parts.length - 1] ?? ''}`;
  return `The seller did not grant ${list}, which Settle needs; ask them to connect again and allow every permission.`;
}

/**
 * Seller connection through Square OAuth (code flow): the authorize URL, the code exchange (checking the granted
 * scopes and choosing the checkout location), revocation and refresh. Core owns `state` and stores the grant.
 */
export class SquareOAuth implements OAuthConnect {
  readonly requiredScopes: readonly string[] = SQUARE_REQUIRED_SCOPES;
  private readonly config: AppConfig;
  private readonly clients: SquareClients;
  private readonly tokens: SellerTokens;
  private readonly log: Logger;

  constructor(opts: { config: AppConfig; clients: SquareClients; tokens: SellerTokens; log: Logger }) {
    this.config = opts.config;
    this.clients = opts.clients;
    this.tokens = opts.tokens;
    this.log = opts.log;
  }

  /** `<origin>/oauth2/authorize?client_id=…&scope=A+B…&session=false&state=…&redirect_uri=…` */
  authorizeUrl(input: { state: string; redirectUrl: string }): string {
    const q = new URLSearchParams({
      client_id: this.config.applicationId,
      // URLSearchParams writes the spaces as `+`, Square's scope separator.
      scope: this.requiredScopes.join(' '),
      // session=false: the seller signs in on the page even when a Square dashboard session exists (Square's
      // recommendation for production apps).
      session: 'false',
      state: input.state,
      redirect_uri: input.redirectUrl,
    });
    return `${squareConnectOrigin(this.config)}/oauth2/authorize?${q.toString()}`;
  }

  async exchangeCode(input: {
    code: string;
    redirectUrl: string;
  }): Promise<{ grant: SellerGrant; account: SellerAccountState }> {
    const t = await squareCall(
      'oauth.obtainToken',
      () =>
        this.clients.unauthenticated().oAuth.obtainToken({
          clientId: this.config.applicationId,
          clientSecret: this.config.applicationSecret,
          grantType: 'authorization_code',
          code: input.code,
          redirectUri: input.redirectUrl,
        }),
      'application',
    ).catch((err: unknown) => {
      if (failureStatus(err) === 401)
        // Square answers 401 for a used, expired or unknown code (and for wrong application credentials).
        throw new SettleError(
          'validation_failed',
          'Square did not accept the authorization code (used, expired or not issued to this application); connect again.',
          { cause: err },
        );
      throw err;
    });
    const accessToken = t.accessToken;
    const merchantId = t.merchantId;
    if (accessToken === undefined || accessToken === '' || merchantId === undefined || merchantId === '')
      throw new SettleError(
        'provider_error',
        'Square answered the code exchange without a token or merchant id',
      );
    const seller = this.clients.forToken(accessToken);
    try {
      const status = await squareCall('oauth.retrieveTokenStatus', () => seller.oAuth.retrieveTokenStatus());
      const scopes = status.scopes ?? [];
      const missing = missingScopes(scopes);
      if (missing.length > 0) {
        this.log.warn({ merchantId, missing }, 'square seller did not grant every scope; grant revoked');
        throw new SettleError('provider_scopes_missing', missingScopesMessage(missing), {
          details: { provider: 'square', missingScopes: missing },
        });
      }
      const locations = (await squareCall('locations.list', () => seller.locations.list())).locations ?? [];
      const location = pickLocation(locations);
      if (location?.id === undefined)
        throw new SettleError(
          'seller_not_ready',
          'Your Square account has no location to take payments at; add one in the Square Dashboard, then connect again.',
          { details: { provider: 'square' } },
        );
      const grant: SellerGrant = {
        accountId: merchantId,
        accessToken,
        refreshToken: t.refreshToken ?? null,
        expiresAt: parseExpiry(t.expiresAt),
        scopes,
        locationId: location.id,
      };
      this.log.info({ merchantId, locationId: location.id }, 'square seller connected');
      return {
        grant,
        account: {
          accountId: merchantId,
          detailsSubmitted: true,
          chargesEnabled: locationCanCharge(location),
          payoutsEnabled: true,
          // A Square seller takes its location's currency only (Square refuses any other: CURRENCY_MISMATCH).
          ...(location.currency !== undefined && location.currency !== null
            ? { currencies: [location.currency.toLowerCase()] }
            : {}),
        },
      };
    } catch (err) {
      // A grant Settle will not store is withdrawn at once (best effort), so no live token is left behind.
      if (
        err instanceof SettleError &&
        (err.code === 'provider_scopes_missing' || err.code === 'seller_not_ready')
      )
        await this.revokeToken(accessToken, merchantId);
      throw err;
    }
  }

  private async revokeToken(accessToken: string, merchantId: string): Promise<void> {
    try {
      await this.clients
        .unauthenticated()
        .oAuth.revokeToken(
          { clientId: this.config.applicationId, accessToken },
          { headers: { Authorization: `Client ${this.config.applicationSecret}` } },
        );
    } catch (err) {
      this.log.warn(
        { merchantId, status: failureStatus(err) },
        'square grant could not be revoked after a refused connection',
      );
    }
  }

  /** RevokeToken by merchant id (every token of the seller's authorization); already revoked (404) counts as done. */
  async revoke(accountId: string): Promise<void> {
    await squareCall(
      'oauth.revokeToken',
      () =>
        this.clients
          .unauthenticated()
          .oAuth.revokeToken(
            { clientId: this.config.applicationId, merchantId: accountId },
            { headers: { Authorization: `Client ${this.config.applicationSecret}` } },
          ),
      'application',
    ).catch((err: unknown) => {
      if (failureStatus(err) === 404) return;
      throw err;
    });
    this.log.info({ merchantId: accountId }, 'square seller access revoked');
  }

  async refresh(accountId: string): Promise<void> {
    await this.tokens.refresh(accountId);
  }
}
