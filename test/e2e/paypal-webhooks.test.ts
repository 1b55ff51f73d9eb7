import { createServer, type IncomingHttpHeaders, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { createPayPalApi, PayPalRest, registerWebhook } from '../../src/providers/paypal/index.js';
import { BACKENDS } from '../helpers/db.js';
import { order } from '../helpers/settle.js';
import {
  paypalCheckout,
  setupBoth,
  startPayPalHarness,
  type PayPalHarness,
} from '../providers/paypal/harness.js';

/**
 * PayPal webhook security at the route: a delivery is verified on its raw bytes before anything is written.
 * Genuine deliveries signed by the emulator for another webhook (another subscription id) are captured by a
 * local receiver and replayed to Settle, as is, tampered, re-signed by nobody, or pointing at a certificate
 * outside PayPal's hosts (served by a local "attacker" that counts its requests).
 */

interface Captured {
  body: Buffer;
  headers: IncomingHttpHeaders;
}

async function listen(handler: (req: import('node:http').IncomingMessage, body: Buffer) => void): Promise<{
  server: Server;
  url: string;
}> {
  const server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      handler(req, Buffer.concat(chunks));
      res.writeHead(200, { 'content-type': 'application/json' }).end('{}');
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return { server, url: `http://127.0.0.1:${(server.address() as AddressInfo).port}` };
}

function toHeaders(h: IncomingHttpHeaders, over: Record<string, string> = {}): Record<string, string> {
  const out: Record<string, string> = { 'content-type': 'application/json' };
  for (const k of [
    'paypal-transmission-id',
    'paypal-transmission-time',
    'paypal-transmission-sig',
    'paypal-cert-url',
    'paypal-auth-algo',
  ]) {
    const v = h[k];
    if (typeof v === 'string') out[k] = v;
  }
  return { ...out, ...over };
}

describe.each(BACKENDS)('PayPal webhook security (%s PostgreSQL)', (backend) => {
  let h: PayPalHarness | undefined;
  const servers: Server[] = [];
  afterEach(async () => {
    await h?.close();
    h = undefined;
    for (const s of servers.splice(0)) await new Promise((r) => s.close(r));
  });

  it('forged, tampered, wrong-webhook and outside-allow-list deliveries are refused 400 with nothing written', async () => {
    h = await startPayPalHarness(backend);
    const m = await setupBoth(h);
    const received: Captured[] = [];
    const receiver = await listen((req, body) => received.push({ body, headers: req.headers }));
    let attackerHits = 0;
    const attacker = await listen(() => {
      attackerHits += 1;
    });
    servers.push(receiver.server, attacker.server);
    // A second webhook at PayPal (another subscription: another id) that receives the same events.
    const rest = new PayPalRest(createPayPalApi(h.settle.ctx.config.paypal));
    const otherId = await registerWebhook(rest, `${receiver.url}/hook`);
    expect(otherId).not.toBe(h.settle.ctx.config.paypal.webhookId);
    // Settle's own webhook is down for this order: only the replays below could move it.
    h.paypal.faults.set({
      endpointFailures: [{ endpoint: `${h.settle.url}/webhooks/paypal`, mode: 'skip' }],
    });
    const c = await paypalCheckout(h, m.slotId);
    await h.paypal.approveOrder(c.paypalOrderId);
    const deadline = Date.now() + 10_000;
    while (received.length === 0 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
    const approved = received.find(
      (r) => JSON.parse(r.body.toString()).event_type === 'CHECKOUT.ORDER.APPROVED',
    );
    expect(approved).toBeDefined();
    if (approved === undefined) return;
    const inboxBefore = await h.settle.ctx.db.selectFrom('webhook_events').select('id').execute();

    const post = (body: Buffer | string, headers: Record<string, string>) =>
      fetch(`${h!.settle.url}/webhooks/paypal`, {
        method: 'POST',
        headers,
        body: typeof body === 'string' ? body : new Uint8Array(body),
      });
    const refusals: { name: string; res: Response }[] = [];
    // 1. Genuine PayPal signature, but for the other webhook id: the signed message names that webhook.
    refusals.push({ name: 'wrong webhook id', res: await post(approved.body, toHeaders(approved.headers)) });
    // 2. Tampered body.
    const tampered = approved.body.toString().replace(c.orderId, 'ord_someoneelse');
    refusals.push({ name: 'tampered', res: await post(tampered, toHeaders(approved.headers)) });
    // 3. Forged signature.
    const forged = Buffer.alloc(256, 7).toString('base64');
    refusals.push({
      name: 'forged',
      res: await post(approved.body, toHeaders(approved.headers, { 'paypal-transmission-sig': forged })),
    });
    // 4. A certificate outside PayPal's hosts (and not the emulator's): refused without fetching it.
    for (const certUrl of [
      `${attacker.url}/v1/notifications/certs/CERT-evil`,
      'https://api-m.paypal.com.evil.example/v1/notifications/certs/CERT-evil',
    ])
      refusals.push({
        name: `cert ${certUrl}`,
        res: await post(approved.body, toHeaders(approved.headers, { 'paypal-cert-url': certUrl })),
      });
    // 5. No signature headers at all.
    refusals.push({
      name: 'unsigned',
      res: await post(approved.body, { 'content-type': 'application/json' }),
    });
    for (const r of refusals) {
      expect(r.res.status, r.name).toBe(400);
      const body = (await r.res.json()) as { error: { code: string } };
      expect(body.error.code, r.name).toBe('webhook_signature_invalid');
    }
    expect(attackerHits).toBe(0);
    const inboxAfter = await h.settle.ctx.db.selectFrom('webhook_events').select('id').execute();
    expect(inboxAfter).toHaveLength(inboxBefore.length);
    expect((await order(h, c.orderId)).status).toBe('pending');

    // The buyer's return page still confirms it (from an authenticated read and capture, never from a payload).
    h.paypal.faults.reset();
    const v = await h.api('POST', '/api/checkout/verify', { orderId: c.orderId });
    expect(v.body).toEqual({ orderId: c.orderId, status: 'paid' });
    await h.settleDown();
  });
});
