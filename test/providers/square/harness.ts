import { createServer, type IncomingHttpHeaders, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { SquareConfig } from '../../../src/config/config.js';
import type { CreateCheckoutInput, GrantStore, SellerGrant } from '../../../src/core/provider.js';
import {
  squareClientFor,
  startSquareEmulator,
  type SquareEmulator,
  type SquareEmulatorOptions,
} from '../../../src/emulators/square/index.js';
import {
  SquareProvider,
  enableSquareEvents,
  registerSquareWebhook,
  type SquareProviderOptions,
} from '../../../src/providers/square/index.js';

/** An in-memory GrantStore (what core keeps sealed in `seller_credentials`), counting updates. */
export class MemoryGrants implements GrantStore {
  readonly grants = new Map<string, SellerGrant>();
  updates = 0;
  async load(accountId: string): Promise<SellerGrant | null> {
    const g = this.grants.get(accountId);
    return g === undefined ? null : { ...g };
  }
  async update(
    accountId: string,
    tokens: Pick<SellerGrant, 'accessToken' | 'refreshToken' | 'expiresAt'>,
  ): Promise<void> {
    const g = this.grants.get(accountId);
    if (g === undefined) return;
    this.updates += 1;
    this.grants.set(accountId, { ...g, ...tokens });
  }
  async expiring(before: Date): Promise<string[]> {
    return [...this.grants.values()]
      .filter((g) => g.expiresAt !== null && g.expiresAt < before)
      .map((g) => g.accountId);
  }
  save(grant: SellerGrant): void {
    this.grants.set(grant.accountId, { ...grant });
  }
  drop(accountId: string): void {
    this.grants.delete(accountId);
  }
}

/** A webhook receiver on a random port that records each delivery's raw bytes and headers. */
export interface Receiver {
  url: string;
  deliveries: Array<{ raw: Buffer; headers: IncomingHttpHeaders; type: string }>;
  close(): Promise<void>;
}

export async function startReceiver(path = '/webhooks/square'): Promise<Receiver> {
  const r: Receiver = {
    url: '',
    deliveries: [],
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
  const server: Server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const raw = Buffer.concat(chunks);
      const type = String((JSON.parse(raw.toString('utf8')) as { type?: unknown }).type);
      r.deliveries.push({ raw, headers: req.headers, type });
      res.writeHead(200, { 'content-type': 'text/plain' });
      res.end('ok');
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', () => resolve()));
  r.url = `http://127.0.0.1:${(server.address() as AddressInfo).port}${path}`;
  return r;
}

export const REDIRECT_URL = 'https://settle.example/oauth/square/callback';
export const HOLD_MS = 15 * 60_000;

export interface Testbed {
  emu: SquareEmulator;
  grants: MemoryGrants;
  config: SquareConfig;
  provider: SquareProvider;
  receiver: Receiver;
  signatureKey: string;
  /** A seller connects through the provider's OAuth exchange (what core's callback does); its grant is stored. */
  connect(opts?: {
    country?: string;
  }): Promise<{ merchantId: string; locationId: string; grant: SellerGrant }>;
  /** Another provider on the same emulator and grants (other options). */
  providerWith(opts: Partial<SquareProviderOptions>): SquareProvider;
  /** Number of POST /oauth2/token calls so far. */
  tokenCalls(): number;
  close(): Promise<void>;
}

export async function startTestbed(
  opts: { emulator?: SquareEmulatorOptions; accessToken?: boolean; subscribe?: boolean } = {},
): Promise<Testbed> {
  const emu = await startSquareEmulator({
    port: 0,
    timeScale: 0.001,
    redirectUrl: REDIRECT_URL,
    refundDelayMs: null,
    ...opts.emulator,
  });
  const receiver = await startReceiver();
  const app = squareClientFor(emu, emu.personalAccessToken);
  let signatureKey = 'unused-signature-key';
  if (opts.subscribe !== false) {
    signatureKey = (await registerSquareWebhook(app, receiver.url)).signatureKey;
    await enableSquareEvents(app);
  }
  const config: SquareConfig = {
    applicationId: emu.applicationId,
    applicationSecret: emu.applicationSecret,
    accessToken: opts.accessToken === false ? null : emu.personalAccessToken,
    webhookSignatureKey: signatureKey,
    webhookUrl: receiver.url,
    environment: 'sandbox',
    apiBase: emu.url,
    maxNetworkRetries: 0,
  };
  const grants = new MemoryGrants();
  const base: SquareProviderOptions = {
    config,
    grants,
    checkoutLifetimeMs: HOLD_MS,
    webhookSignatureKey: signatureKey,
    webhookUrl: receiver.url,
  };
  const providerWith = (o: Partial<SquareProviderOptions>): SquareProvider =>
    new SquareProvider({ ...base, ...o });
  const provider = providerWith({});
  return {
    emu,
    grants,
    config,
    provider,
    receiver,
    signatureKey,
    providerWith,
    async connect(o = {}) {
      const { code, merchantId, locationId } = await emu.authorizeSeller(o);
      const { grant } = await provider.oauth.exchangeCode({ code, redirectUrl: REDIRECT_URL });
      grants.save(grant);
      return { merchantId, locationId, grant };
    },
    tokenCalls: () => emu.apiCalls.filter((c) => c.path === '/oauth2/token').length,
    async close() {
      await emu.close();
      await receiver.close();
    },
  };
}

let seq = 0;

/** A checkout input for one Settle order (unique ids per call). */
export function checkoutInput(
  accountId: string,
  o: Partial<CreateCheckoutInput> & { unitAmount?: number; quantity?: number } = {},
): CreateCheckoutInput {
  seq += 1;
  const { unitAmount, quantity, ...rest } = o;
  const orderId = o.orderId ?? `ord_test_${Date.now()}_${seq}`;
  return {
    orderId,
    account: { accountId, chargeType: 'direct' },
    lineItem: { name: 'Yoga class', unitAmount: unitAmount ?? 2500, quantity: quantity ?? 1 },
    currency: 'usd',
    applicationFee: 250,
    expiresAt: new Date(Date.now() + HOLD_MS),
    successUrl: `https://settle.example/return?order=${orderId}&session_id={CHECKOUT_SESSION_ID}`,
    cancelUrl: `https://settle.example/cancel?order=${orderId}`,
    promotionCodeProviderId: null,
    customerEmail: null,
    idempotencyKey: `checkout:${orderId}`,
    ...rest,
  };
}

/** The SettleError code a promise rejects with. */
export async function codeOf(p: Promise<unknown>): Promise<string> {
  try {
    await p;
  } catch (err) {
    const code = (err as { code?: unknown }).code;
    return typeof code === 'string' ? code : `not a SettleError: ${String(err)}`;
  }
  return 'resolved';
}
