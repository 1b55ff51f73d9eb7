import { createServer, type IncomingHttpHeaders, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { SquareError, type SquareClient } from 'square';
import { expect } from 'vitest';
import {
  squareClientFor,
  startSquareEmulator,
  type SquareEmulator,
  type SquareEmulatorOptions,
} from '../../../src/emulators/square/index.js';

/** A webhook receiver on a random port: records every delivery, answers what `respond` decides. */
export interface Delivery {
  raw: string;
  headers: IncomingHttpHeaders;
  event: {
    merchant_id: string;
    type: string;
    event_id: string;
    created_at: string;
    data: { type: string; id: string; object: Record<string, unknown> };
  };
}

export interface Receiver {
  url: string;
  /** Deliveries answered 2xx. */
  ok: Delivery[];
  /** Every delivery, whatever was answered. */
  all: Delivery[];
  respond: (n: number, d: Delivery) => number;
  types(): string[];
  close(): Promise<void>;
}

export async function startReceiver(path = '/webhooks/square'): Promise<Receiver> {
  let n = 0;
  const r: Receiver = {
    url: '',
    ok: [],
    all: [],
    respond: () => 200,
    types: () => r.ok.map((d) => d.event.type),
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
      const raw = Buffer.concat(chunks).toString('utf8');
      const d: Delivery = { raw, headers: req.headers, event: JSON.parse(raw) as Delivery['event'] };
      const status = r.respond(n++, d);
      r.all.push(d);
      if (status >= 200 && status < 300) r.ok.push(d);
      res.writeHead(status, { 'content-type': 'text/plain' });
      res.end('ok');
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', () => resolve()));
  r.url = `http://127.0.0.1:${(server.address() as AddressInfo).port}${path}`;
  return r;
}

export interface Seller {
  merchantId: string;
  locationId: string;
  accessToken: string;
  refreshToken: string;
  client: SquareClient;
}

export interface Harness {
  emu: SquareEmulator;
  /** The application's own client (personal access token). */
  app: SquareClient;
  /** Authorizes a seller (as the authorize page does) and exchanges the code through the SDK. */
  connect(opts?: { scopes?: readonly string[]; sellerName?: string; country?: string }): Promise<Seller>;
  close(): Promise<void>;
}

export const REDIRECT_URL = 'https://settle.example/square/oauth/callback';

export async function startHarness(opts: SquareEmulatorOptions = {}): Promise<Harness> {
  const emu = await startSquareEmulator({ timeScale: 0.001, redirectUrl: REDIRECT_URL, ...opts });
  const app = squareClientFor(emu, emu.personalAccessToken);
  return {
    emu,
    app,
    async connect(o = {}) {
      const { code, merchantId, locationId } = await emu.authorizeSeller(o);
      const t = await app.oAuth.obtainToken({
        clientId: emu.applicationId,
        clientSecret: emu.applicationSecret,
        code,
        grantType: 'authorization_code',
      });
      expect(t.merchantId).toBe(merchantId);
      const accessToken = t.accessToken ?? '';
      return {
        merchantId,
        locationId,
        accessToken,
        refreshToken: t.refreshToken ?? '',
        client: squareClientFor(emu, accessToken),
      };
    },
    close: () => emu.close(),
  };
}

/** The SquareError a call rejects with (fails the test when it resolves or throws something else). */
export async function squareError(p: Promise<unknown>): Promise<SquareError> {
  try {
    await p;
  } catch (err) {
    if (err instanceof SquareError) return err;
    throw err;
  }
  throw new Error('expected the call to be refused');
}

/** Status and first error of a refused SDK call. */
export async function refused(p: Promise<unknown>): Promise<{
  status: number | undefined;
  code: string;
  category: string;
  field: string | undefined;
  detail: string | undefined;
}> {
  const e = await squareError(p);
  const first = e.errors[0];
  return {
    status: e.statusCode,
    code: String(first?.code ?? ''),
    category: String(first?.category ?? ''),
    field: first?.field,
    detail: first?.detail,
  };
}

/** A payment link of one line item (amount in cents) with an optional app fee and a redirect URL. */
export async function createLink(
  seller: Seller,
  o: { amount?: number; fee?: number; key?: string; referenceId?: string; redirect?: string | null } = {},
): Promise<{ linkId: string; orderId: string; url: string }> {
  const res = await seller.client.checkout.paymentLinks.create({
    idempotencyKey: o.key ?? `link-${Math.random()}`,
    order: {
      locationId: seller.locationId,
      referenceId: o.referenceId ?? 'settle-order-1',
      lineItems: [
        {
          name: 'Yoga class',
          quantity: '1',
          basePriceMoney: { amount: BigInt(o.amount ?? 2500), currency: 'USD' },
        },
      ],
    },
    checkoutOptions: {
      ...(o.redirect !== null ? { redirectUrl: o.redirect ?? 'https://settle.example/return' } : {}),
      ...(o.fee !== undefined ? { appFeeMoney: { amount: BigInt(o.fee), currency: 'USD' } } : {}),
    },
  });
  const link = res.paymentLink;
  if (!link?.id || !link.orderId || !link.url) throw new Error('payment link without id, order or url');
  return { linkId: link.id, orderId: link.orderId, url: link.url };
}

/** Posts the hosted page's form like a browser (no redirect following). */
export async function submitForm(url: string, fields: Record<string, string | string[]>): Promise<Response> {
  const body = new URLSearchParams();
  for (const [k, v] of Object.entries(fields)) for (const x of Array.isArray(v) ? v : [v]) body.append(k, x);
  return fetch(url, {
    method: 'POST',
    headers: { 'content-type': 'application/x-www-form-urlencoded' },
    body: body.toString(),
    redirect: 'manual',
  });
}

/** Raw HTTP to the emulator's API (what the SDK cannot send: unknown fields, wrong types). */
export async function rawApi(
  emu: { url: string },
  token: string | null,
  method: string,
  path: string,
  body?: unknown,
  headers: Record<string, string> = {},
): Promise<{
  status: number;
  json: { errors?: Array<{ category: string; code: string; detail?: string; field?: string }> } & Record<
    string,
    unknown
  >;
}> {
  const res = await fetch(`${emu.url}${path}`, {
    method,
    headers: {
      ...(token !== null ? { authorization: `Bearer ${token}` } : {}),
      ...(body !== undefined ? { 'content-type': 'application/json' } : {}),
      'square-version': '2026-09-16',
      ...headers,
    },
    ...(body !== undefined ? { body: typeof body === 'string' ? body : JSON.stringify(body) } : {}),
  });
  return { status: res.status, json: (await res.json()) as never };
}
