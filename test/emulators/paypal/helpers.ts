import { createServer, type IncomingHttpHeaders, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import {
  ApiError,
  CheckoutPaymentIntent,
  OrdersController,
  PaymentsController,
  type Client,
  type OrderRequest,
} from '@paypal/paypal-server-sdk';
import {
  paypalSdkClientFor,
  startPayPalEmulator,
  type PayPalEmulator,
  type PayPalEmulatorOptions,
} from '../../../src/emulators/paypal/index.js';

export interface Received {
  raw: string;
  headers: IncomingHttpHeaders;
  event: { id: string; event_type: string; resource: Record<string, unknown> } & Record<string, unknown>;
  at: number;
}

export interface Receiver {
  url: string;
  /** Requests answered 2xx. */
  received: Received[];
  /** Every request, whatever was answered. */
  all: Received[];
  /** Decides the HTTP status for the n-th (0-based) request; default 200. */
  respond: (n: number) => number;
  types(): string[];
  close(): Promise<void>;
}

export async function startReceiver(): Promise<Receiver> {
  const received: Received[] = [];
  const all: Received[] = [];
  let count = 0;
  const receiver: Receiver = {
    url: '',
    received,
    all,
    respond: () => 200,
    types: () => received.map((r) => r.event.event_type),
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
      const status = receiver.respond(count++);
      const rec: Received = {
        raw,
        headers: req.headers,
        event: JSON.parse(raw) as Received['event'],
        at: Date.now(),
      };
      all.push(rec);
      if (status >= 200 && status < 300) received.push(rec);
      res.writeHead(status, { 'content-type': 'text/plain' });
      res.end('ok');
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', () => resolve()));
  receiver.url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/webhooks/paypal`;
  return receiver;
}

export interface Harness {
  emu: PayPalEmulator;
  client: Client;
  orders: OrdersController;
  payments: PaymentsController;
  /** Raw HTTP with a bearer token from the emulator. */
  http: (
    method: string,
    path: string,
    body?: unknown,
    headers?: Record<string, string>,
  ) => Promise<RawResponse>;
  token: string;
  close(): Promise<void>;
}

export interface RawResponse {
  status: number;
  headers: Headers;
  text: string;
  json: Record<string, unknown>;
}

export async function fetchToken(
  url: string,
  id = 'emulator-client-id',
  secret = 'emulator-client-secret',
): Promise<string> {
  const res = await fetch(`${url}/v1/oauth2/token`, {
    method: 'POST',
    headers: {
      authorization: `Basic ${Buffer.from(`${id}:${secret}`).toString('base64')}`,
      'content-type': 'application/x-www-form-urlencoded',
    },
    body: 'grant_type=client_credentials',
  });
  const body = (await res.json()) as { access_token: string };
  return body.access_token;
}

function parseJson(text: string): Record<string, unknown> {
  try {
    const v = text ? (JSON.parse(text) as unknown) : {};
    return typeof v === 'object' && v !== null ? (v as Record<string, unknown>) : {};
  } catch {
    return {};
  }
}

export async function raw(
  url: string,
  method: string,
  path: string,
  opts: { token?: string; body?: unknown; rawBody?: string; headers?: Record<string, string> } = {},
): Promise<RawResponse> {
  const headers: Record<string, string> = { ...opts.headers };
  if (opts.token) headers['authorization'] = `Bearer ${opts.token}`;
  let body: string | undefined;
  if (opts.rawBody !== undefined) body = opts.rawBody;
  else if (opts.body !== undefined) body = JSON.stringify(opts.body);
  if (body !== undefined && !headers['content-type']) headers['content-type'] = 'application/json';
  const res = await fetch(`${url}${path}`, {
    method,
    headers,
    ...(body !== undefined ? { body } : {}),
    redirect: 'manual',
  });
  const text = await res.text();
  return { status: res.status, headers: res.headers, text, json: parseJson(text) };
}

export async function startHarness(opts: PayPalEmulatorOptions = {}): Promise<Harness> {
  const emu = await startPayPalEmulator({ timeScale: 0.001, ...opts });
  const client = paypalSdkClientFor(emu.url);
  const token = await fetchToken(emu.url);
  return {
    emu,
    client,
    orders: new OrdersController(client),
    payments: new PaymentsController(client),
    token,
    http: (method, path, body, headers) =>
      raw(emu.url, method, path, { token, body, ...(headers ? { headers } : {}) }),
    close: () => emu.close(),
  };
}

/** A one-unit order request, as Settle sends it (amount as a decimal string, optional payee and platform fee). */
export function orderBody(
  opts: {
    currency?: string;
    value?: string;
    payee?: string;
    fee?: string;
    customId?: string;
    experience?: 'payment_source' | 'application_context' | 'none';
  } = {},
): OrderRequest {
  const currency = opts.currency ?? 'USD';
  const experience = opts.experience ?? 'payment_source';
  return {
    intent: CheckoutPaymentIntent.Capture,
    purchaseUnits: [
      {
        referenceId: 'default',
        amount: { currencyCode: currency, value: opts.value ?? '10.00' },
        ...(opts.payee ? { payee: { merchantId: opts.payee } } : {}),
        ...(opts.fee
          ? {
              paymentInstruction: { platformFees: [{ amount: { currencyCode: currency, value: opts.fee } }] },
            }
          : {}),
        customId: opts.customId ?? 'settle-order-1',
        description: 'Yoga class, Monday 9:00',
      },
    ],
    ...(experience === 'payment_source'
      ? {
          paymentSource: {
            paypal: {
              experienceContext: {
                returnUrl: 'https://settle.example/paypal/return',
                cancelUrl: 'https://settle.example/paypal/cancel',
              },
            },
          },
        }
      : experience === 'application_context'
        ? {
            applicationContext: {
              returnUrl: 'https://settle.example/paypal/return',
              cancelUrl: 'https://settle.example/paypal/cancel',
            },
          }
        : {}),
  };
}

/** The status and PayPal error body of an SDK error. */
export async function sdkError(
  p: Promise<unknown>,
): Promise<{ status: number; body: Record<string, unknown> }> {
  try {
    await p;
  } catch (err) {
    if (err instanceof ApiError) {
      const body = typeof err.body === 'string' ? (JSON.parse(err.body) as Record<string, unknown>) : {};
      return { status: err.statusCode, body };
    }
    throw err;
  }
  throw new Error('expected the SDK call to fail');
}

/** The first detail's issue of a PayPal error body. */
export function issueOf(body: Record<string, unknown>): string | undefined {
  const details = body['details'];
  if (!Array.isArray(details)) return undefined;
  const first = details[0] as { issue?: string } | undefined;
  return first?.issue;
}

/** Onboards a seller through a partner referral (with PARTNER_FEE and REFUND granted); answers its merchant id. */
export async function onboardSeller(
  h: Harness,
  trackingId: string,
  opts: { features?: string[]; paymentsReceivable?: boolean } = {},
): Promise<string> {
  const res = await h.http('POST', '/v2/customer/partner-referrals', referralBody(trackingId, opts.features));
  if (res.status !== 201) throw new Error(`referral failed: ${res.text}`);
  const { merchantId } = await h.emu.completeOnboarding(trackingId, {
    ...(opts.paymentsReceivable !== undefined ? { paymentsReceivable: opts.paymentsReceivable } : {}),
  });
  return merchantId;
}

export function referralBody(
  trackingId: string,
  features = ['PAYMENT', 'REFUND', 'PARTNER_FEE'],
): Record<string, unknown> {
  return {
    tracking_id: trackingId,
    operations: [
      {
        operation: 'API_INTEGRATION',
        api_integration_preference: {
          rest_api_integration: {
            integration_method: 'PAYPAL',
            integration_type: 'THIRD_PARTY',
            third_party_details: { features },
          },
        },
      },
    ],
    products: ['PPCP'],
    legal_consents: [{ type: 'SHARE_DATA_CONSENT', granted: true }],
    partner_config_override: { return_url: 'https://settle.example/sellers/paypal/return' },
  };
}

/** Subscribes a receiver to every event; answers the webhook id. */
export async function subscribe(h: Harness, url: string, types: string[] = ['*']): Promise<string> {
  const res = await h.http('POST', '/v1/notifications/webhooks', {
    url,
    event_types: types.map((name) => ({ name })),
  });
  if (res.status !== 201) throw new Error(`subscribe failed: ${res.text}`);
  return String(res.json['id']);
}

/** Creates and approves an order, then captures it; answers order and capture ids. */
export async function paidOrder(
  h: Harness,
  opts: Parameters<typeof orderBody>[0] & { buyer?: 'normal' | 'declined' | 'pending' } = {},
): Promise<{ orderId: string; captureId: string; captureStatus: string }> {
  const created = await h.orders.createOrder({
    body: orderBody(opts),
    paypalRequestId: `create-${Math.random()}`,
  });
  const orderId = created.result.id ?? '';
  await h.emu.approveOrder(orderId, opts.buyer ?? 'normal');
  const captured = await h.orders.captureOrder({ id: orderId, paypalRequestId: `capture-${orderId}` });
  const capture = captured.result.purchaseUnits?.[0]?.payments?.captures?.[0];
  return { orderId, captureId: capture?.id ?? '', captureStatus: capture?.status ?? '' };
}
