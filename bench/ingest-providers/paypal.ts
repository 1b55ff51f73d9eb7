/**
 * PayPal in the provider ingest benchmark.
 *
 * - Emulator: src/emulators/paypal/cli.ts in its own process, with the platform's partner merchant id.
 * - Webhook: subscribed at the emulator (POST /v1/notifications/webhooks, CHECKOUT.ORDER.APPROVED) to a recording
 *   sink, not to Settle: the emulator signs each delivery with its private key (PAYPAL-TRANSMISSION-SIG over
 *   `transmission id|time|webhook id|crc32(body)`, SHA256withRSA, PAYPAL-CERT-URL its certificate), the sink keeps
 *   body and headers, and the load generator replays them verbatim to /webhooks/paypal. Settle's PAYPAL_WEBHOOK_ID
 *   is that subscription's id, so the signature is PayPal's own for Settle's webhook.
 * - Verification in Settle is offline (src/providers/paypal/webhook-verify.ts): the certificate is fetched from the
 *   emulator once and cached; no verify-webhook-signature call per delivery.
 * - Seller: POST /api/sellers/:id/providers/paypal (a partner referral tracked by the seller id), the seller signs up
 *   at the emulator (POST /_emulator/partner-referrals/:sellerId/complete), and GET /api/admin/sellers/:id reads the
 *   merchant back from PayPal.
 * - Payment: the buyer approves the PayPal order (POST /_emulator/orders/:id/approve); PayPal emits
 *   CHECKOUT.ORDER.APPROVED. Settle, on that event (the buyer never came back to the return page), reads the order,
 *   captures it (POST /v2/checkout/orders/:id/capture) and confirms: the capture is part of the ingest path.
 */
import { randomBytes } from 'node:crypto';
import { join } from 'node:path';
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
import { startSink, type Sink } from './sink.js';

const CLIENT_ID = 'settle-bench-client';
const CLIENT_SECRET = `bench${randomBytes(12).toString('hex')}`;
/** PayPal's account id alphabet: 13 of [2-9A-HJ-NP-Z]. */
const ID_ALPHABET = '23456789ABCDEFGHJKLMNPQRSTUVWXYZ';

function partnerId(): string {
  const b = randomBytes(13);
  return Array.from(b, (x) => ID_ALPHABET[x % ID_ALPHABET.length]).join('');
}

export function paypalDriver(): ProviderDriver {
  let sink: Sink | null = null;
  /** Sink deliveries already matched, by PayPal order id. */
  const byOrder = new Map<string, HeaderDelivery>();
  let scanned = 0;

  const scan = (): void => {
    if (sink === null) return;
    for (; scanned < sink.received.length; scanned++) {
      const d = sink.received[scanned]!;
      const ev = JSON.parse(d.body) as { event_type?: string; resource?: { id?: string } };
      const id = ev.resource?.id;
      if (ev.event_type !== 'CHECKOUT.ORDER.APPROVED' || id === undefined || byOrder.has(id)) continue;
      // The emulator's headers, verbatim (transmission id, time, signature, cert URL, algorithm, user agent).
      const headers: Record<string, string> = {};
      for (const [k, v] of Object.entries(d.headers))
        if (k.startsWith('paypal-') || k === 'content-type' || k === 'user-agent') headers[k] = v;
      byOrder.set(id, { body: d.body, headers });
    }
  };

  return {
    name: 'paypal',
    event: 'CHECKOUT.ORDER.APPROVED',
    verification:
      'offline RSA (SHA256withRSA) over PayPal-signed headers, certificate fetched once from the emulator and cached; the event leads Settle to GET the order and POST its capture',
    async start({ dir, tsx, settleUrl: _settleUrl }) {
      const port = await freePort();
      const log = join(dir, 'paypal-emulator.log');
      const partner = partnerId();
      const proc = startProc(
        'paypal emulator',
        [
          ...nodeArgs('src/emulators/paypal/cli.ts', !tsx).args,
          '--port',
          String(port),
          '--time-scale',
          '1',
          '--partner-merchant-id',
          partner,
        ],
        { LOG_LEVEL: 'warn' },
        log,
      );
      const url = `http://127.0.0.1:${port}`;
      await waitReady(proc, `${url}/_emulator/clock`, log);
      sink = await startSink();
      const token = await json<{ access_token: string }>(
        await fetch(`${url}/v1/oauth2/token`, {
          method: 'POST',
          headers: {
            authorization: `Basic ${Buffer.from(`${CLIENT_ID}:${CLIENT_SECRET}`).toString('base64')}`,
            'content-type': 'application/x-www-form-urlencoded',
          },
          body: 'grant_type=client_credentials',
        }),
        'paypal token',
      );
      const hook = await json<{ id: string }>(
        await fetch(`${url}/v1/notifications/webhooks`, {
          method: 'POST',
          headers: { authorization: `Bearer ${token.access_token}`, 'content-type': 'application/json' },
          body: JSON.stringify({
            url: `${sink.url}/webhooks/paypal`,
            event_types: [{ name: 'CHECKOUT.ORDER.APPROVED' }],
          }),
        }),
        'paypal webhook',
      );
      const s = sink;
      return {
        url,
        stop: async () => {
          await s.close();
          await proc.stop();
        },
        env: {
          PAYPAL_CLIENT_ID: CLIENT_ID,
          PAYPAL_CLIENT_SECRET: CLIENT_SECRET,
          PAYPAL_MODE: 'sandbox',
          PAYPAL_WEBHOOK_ID: hook.id,
          PAYPAL_PARTNER_MERCHANT_ID: partner,
          PAYPAL_PARTNER_ATTRIBUTION_ID: 'SETTLE_BENCH_MP',
          PAYPAL_API_BASE: url,
        },
      };
    },

    async connectSeller(c: RunCtx, sellerId: string) {
      await adminCall(c, 'POST', `/api/sellers/${sellerId}/providers/paypal`, {});
      await post(`${c.emulator}/_emulator/partner-referrals/${sellerId}/complete`, {}, 'paypal onboarding');
      await expectReady(c, sellerId, 'paypal');
    },

    async pay(c: RunCtx, sessionId: string) {
      await post(`${c.emulator}/_emulator/orders/${sessionId}/approve`, { buyer: 'normal' }, 'approve');
      return sessionId;
    },

    async deliveries(_c: RunCtx, orders: readonly PaidOrder[]) {
      const deadline = Date.now() + 60_000;
      for (;;) {
        scan();
        const missing = orders.filter((o) => !byOrder.has(o.ref)).length;
        if (missing === 0) break;
        if (Date.now() > deadline)
          throw new Error(
            `${missing} of ${orders.length} CHECKOUT.ORDER.APPROVED deliveries never reached the sink`,
          );
        await new Promise((r) => setTimeout(r, 50));
      }
      return orders.map((o) => byOrder.get(o.ref)!);
    },
  };
}
