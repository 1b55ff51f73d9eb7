/**
 * Square in the provider ingest benchmark.
 *
 * - Emulator: src/emulators/square/cli.ts in its own process; its OAuth redirect URL is Settle's callback.
 * - Webhook: no subscription at the emulator, so it records events without delivering them (GET /_emulator/events
 *   lists their envelopes; the delivered body is the envelope serialized whole). Each `payment.updated` (COMPLETED)
 *   is signed as Square signs a delivery, with the emulator's own signing code (the code its deliveries use):
 *   x-square-hmacsha256-signature = base64(HMAC-SHA256(signature key, notification URL + body)), plus the legacy
 *   SHA-1 x-square-signature and Square's other headers. The key and URL are Settle's SQUARE_WEBHOOK_SIGNATURE_KEY
 *   and SQUARE_WEBHOOK_URL; the first delivery is checked with the Square SDK's WebhooksHelper.
 * - Verification in Settle is a local HMAC (no call to Square). Before the inbox, Settle reads the payment's order
 *   (orders.get with the seller's token) for its reference id; after it, it re-reads the checkout (payment link,
 *   order, payment) and confirms.
 * - Seller: POST /api/sellers/:id/providers/square (authorize URL with a single-use state), the seller allows at the
 *   emulator (POST /_emulator/oauth/authorize: a code), the browser returns to Settle's /oauth/square/callback (303).
 * - Payment: the buyer pays the payment link (POST /_emulator/payment-links/:id/pay, card ok): payment.created
 *   (APPROVED), payment.updated (COMPLETED), order.updated.
 */
import { randomBytes } from 'node:crypto';
import { join } from 'node:path';
import { WebhooksHelper } from 'square';
import { legacySquareSignature, squareSignature } from '../../src/emulators/square/webhooks.js';
import { freePort, nodeArgs, startProc, waitReady } from '../ingest/procs.js';
import {
  adminCall,
  expectReady,
  json,
  post,
  type PaidOrder,
  type ProviderDriver,
  type RunCtx,
} from './driver.js';
import type { HeaderDelivery } from './driver.js';

interface Envelope {
  type: string;
  event_id: string;
  data: { id?: string; object?: { payment?: { status?: string } } };
}

export function squareDriver(): ProviderDriver {
  const signatureKey = randomBytes(16).toString('base64url');
  let notificationUrl = '';
  let checked = false;

  const sign = (body: string): HeaderDelivery => ({
    body,
    headers: {
      'content-type': 'application/json',
      'user-agent': 'Square Connect v2',
      'x-square-hmacsha256-signature': squareSignature(signatureKey, notificationUrl, body),
      'x-square-signature': legacySquareSignature(signatureKey, notificationUrl, body),
      'square-environment': 'Sandbox',
    },
  });

  return {
    name: 'square',
    event: 'payment.updated (COMPLETED)',
    verification:
      'local HMAC-SHA256 over notification URL + body; then orders.get at Square (the reference id) before the inbox, payment link + order + payment re-read after it',
    async start({ dir, tsx, settleUrl }) {
      const port = await freePort();
      const log = join(dir, 'square-emulator.log');
      const proc = startProc(
        'square emulator',
        [
          ...nodeArgs('src/emulators/square/cli.ts', !tsx).args,
          '--port',
          String(port),
          '--time-scale',
          '1',
          '--redirect-url',
          `${settleUrl}/oauth/square/callback`,
        ],
        { LOG_LEVEL: 'warn' },
        log,
      );
      const url = `http://127.0.0.1:${port}`;
      await waitReady(proc, `${url}/_emulator/clock`, log);
      const app = await json<{ application_id: string; application_secret: string }>(
        await fetch(`${url}/_emulator/application`),
        'square application',
      );
      notificationUrl = `${settleUrl}/webhooks/square`;
      return {
        url,
        stop: () => proc.stop(),
        env: {
          SQUARE_APPLICATION_ID: app.application_id,
          SQUARE_APPLICATION_SECRET: app.application_secret,
          SQUARE_ENVIRONMENT: 'sandbox',
          SQUARE_API_BASE: url,
          SQUARE_WEBHOOK_SIGNATURE_KEY: signatureKey,
          SQUARE_WEBHOOK_URL: notificationUrl,
          SETTLE_ENCRYPTION_KEY: randomBytes(32).toString('base64'),
        },
      };
    },

    async connectSeller(c: RunCtx, sellerId: string, name: string) {
      const link = await adminCall<{ url: string }>(
        c,
        'POST',
        `/api/sellers/${sellerId}/providers/square`,
        {},
      );
      const state = new URL(link.url).searchParams.get('state') ?? '';
      const { code } = await post<{ code: string }>(
        `${c.emulator}/_emulator/oauth/authorize`,
        { seller_name: name },
        'square authorize',
      );
      const back = await fetch(
        `${c.settle}/oauth/square/callback?${new URLSearchParams({ code, state, response_type: 'code' })}`,
        { redirect: 'manual' },
      );
      await back.text();
      if (back.status !== 303) throw new Error(`square callback answered ${back.status}`);
      await expectReady(c, sellerId, 'square');
    },

    async pay(c: RunCtx, sessionId: string) {
      const r = await post<{ payment_id: string; status: string }>(
        `${c.emulator}/_emulator/payment-links/${sessionId}/pay`,
        { card: 'ok' },
        'square pay',
      );
      if (r.status !== 'COMPLETED') throw new Error(`square payment ${r.payment_id} is ${r.status}`);
      return r.payment_id;
    },

    async deliveries(c: RunCtx, orders: readonly PaidOrder[]) {
      const { data } = await json<{ data: Envelope[] }>(
        await fetch(`${c.emulator}/_emulator/events`),
        'square events',
      );
      const byPayment = new Map<string, Envelope>();
      for (const e of data)
        if (e.type === 'payment.updated' && e.data.object?.payment?.status === 'COMPLETED' && e.data.id)
          byPayment.set(e.data.id, e);
      const out = orders.map((o) => {
        const e = byPayment.get(o.ref);
        if (e === undefined) throw new Error(`no payment.updated COMPLETED for payment ${o.ref}`);
        return sign(JSON.stringify(e));
      });
      if (!checked && out[0] !== undefined) {
        const ok = await WebhooksHelper.verifySignature({
          requestBody: out[0].body,
          signatureHeader: out[0].headers['x-square-hmacsha256-signature'] ?? '',
          signatureKey,
          notificationUrl,
        });
        if (!ok) throw new Error("the Square SDK's WebhooksHelper refuses the benchmark's signature");
        checked = true;
      }
      return out;
    },
  };
}
