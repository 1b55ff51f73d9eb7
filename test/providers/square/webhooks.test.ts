import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadConfig } from '../../../src/config/config.js';
import type { NormalizedEvent, VerifiedEvent } from '../../../src/core/provider.js';
import { randomSealingKeys } from '../../../src/core/sealed.js';
import { squareClientFor } from '../../../src/emulators/square/index.js';
import {
  SQUARE_EVENT_TYPES,
  SQUARE_SIGNATURE_HEADER,
  createSquareProvider,
  registerSquareWebhook,
  runSquareDoctor,
  squareSignature,
} from '../../../src/providers/square/index.js';
import { checkoutInput, codeOf, startTestbed, type Testbed } from './harness.js';

describe('Square provider: webhooks verified and normalized, events search (emulator deliveries)', () => {
  let t: Testbed;
  let merchantId = '';
  let orderId = '';
  let paymentId = '';
  let refundId = '';
  let disputeId = '';
  let revokedMerchant = '';
  let byType: Map<string, VerifiedEvent[]>;

  beforeAll(async () => {
    t = await startTestbed();
    ({ merchantId } = await t.connect());
    const input = checkoutInput(merchantId, { unitAmount: 5000, applicationFee: 500 });
    orderId = input.orderId;
    const c = await t.provider.createCheckout(input);
    paymentId = (await t.emu.payLink(c.sessionId, 'ok')).paymentId;
    refundId = (
      await t.provider.refund({
        account: { accountId: merchantId, chargeType: 'direct' },
        paymentId,
        amount: 1000,
        currency: 'usd',
        idempotencyKey: 'refund:w1',
        orderId,
        refundId: 'w1',
      })
    ).providerRefundId;
    await t.emu.completePendingRefund(refundId);
    disputeId = (await t.emu.openDispute(paymentId)).disputeId;
    await t.emu.resolveDispute(disputeId, 'LOST');
    // Another seller revokes the application.
    revokedMerchant = (await t.connect()).merchantId;
    await t.emu.revoke(revokedMerchant);
    await t.emu.idle();
    byType = new Map();
    for (const d of t.receiver.deliveries) {
      const v = await t.provider.verifyWebhook('platform', d.raw, d.headers);
      byType.set(d.type, [...(byType.get(d.type) ?? []), v]);
    }
  });
  afterAll(async () => {
    await t.close();
  });

  const kinds = (type: string): NormalizedEvent[] => (byType.get(type) ?? []).map((v) => v.event);
  const delivery = (
    type: string,
  ): { raw: Buffer; headers: Record<string, string | string[] | undefined> } => {
    const d = t.receiver.deliveries.find((x) => x.type === type);
    if (d === undefined) throw new Error(`no ${type} delivery`);
    return { raw: d.raw, headers: d.headers };
  };

  it('every subscribed event type was delivered and verified', () => {
    for (const type of SQUARE_EVENT_TYPES) expect(byType.has(type), type).toBe(true);
    const v = byType.get('payment.updated')?.[0];
    expect(v).toMatchObject({
      provider: 'square',
      endpoint: 'platform',
      type: 'payment.updated',
      accountId: null,
    });
    expect(v?.livemode).toBe(false);
    expect(v?.eventId).toMatch(/^[0-9a-f-]{36}$/);
    expect(v?.createdAt.getTime()).toBeGreaterThan(Date.now() - 60_000);
  });

  it('payments → checkout.completed with Settle’s order id (from the order), the merchant, amounts and fee', () => {
    const completed = kinds('payment.updated').find(
      (e) => e.kind === 'checkout.completed' && e.checkout.outcome === 'succeeded',
    );
    expect(completed).toEqual({
      kind: 'checkout.completed',
      checkout: {
        provider: 'square',
        sessionId: '',
        orderId,
        accountId: merchantId,
        outcome: 'succeeded',
        amountTotal: 5000,
        currency: 'usd',
        paymentId,
        applicationFee: 500,
        promotionCode: null,
      },
    });
    // payment.created: APPROVED (before capture) → processing.
    expect(kinds('payment.created')[0]).toMatchObject({
      kind: 'checkout.completed',
      checkout: { outcome: 'processing', orderId, paymentId },
    });
  });

  it('refunds → refund.updated pending, then succeeded', () => {
    expect(kinds('refund.created')).toEqual([
      {
        kind: 'refund.updated',
        refund: { providerRefundId: refundId, paymentId, amount: 1000, status: 'pending', refundId: null },
      },
    ]);
    expect(kinds('refund.updated').at(-1)).toMatchObject({
      kind: 'refund.updated',
      refund: { providerRefundId: refundId, status: 'succeeded' },
    });
  });

  it('disputes → dispute.created, then dispute.closed lost', () => {
    expect(kinds('dispute.created')[0]).toMatchObject({
      kind: 'dispute.created',
      dispute: {
        providerDisputeId: disputeId,
        paymentId,
        currency: 'usd',
        outcome: null,
        reason: 'NO_KNOWLEDGE',
      },
    });
    expect(kinds('dispute.state.updated').at(-1)).toMatchObject({
      kind: 'dispute.closed',
      dispute: { providerDisputeId: disputeId, paymentId, status: 'lost', outcome: 'lost' },
    });
  });

  it('oauth.authorization.revoked → account.updated revoked for that merchant', () => {
    expect(kinds('oauth.authorization.revoked')).toEqual([
      {
        kind: 'account.updated',
        revoked: true,
        account: {
          accountId: revokedMerchant,
          detailsSubmitted: true,
          chargesEnabled: false,
          payoutsEnabled: false,
        },
      },
    ]);
  });

  it('refuses a forged signature, another URL, a tampered body, a missing header, the connect endpoint', async () => {
    const { raw, headers } = delivery('payment.updated');
    const forged = t.providerWith({ webhookSignatureKey: 'another-key' });
    expect(await codeOf(forged.verifyWebhook('platform', raw, headers))).toBe('webhook_signature_invalid');
    const otherUrl = t.providerWith({ webhookUrl: `${t.receiver.url}/` });
    expect(await codeOf(otherUrl.verifyWebhook('platform', raw, headers))).toBe('webhook_signature_invalid');
    const tampered = Buffer.from(raw.toString('utf8').replace('"amount":5000', '"amount":5'));
    expect(tampered.equals(raw)).toBe(false);
    expect(await codeOf(t.provider.verifyWebhook('platform', tampered, headers))).toBe(
      'webhook_signature_invalid',
    );
    const { [SQUARE_SIGNATURE_HEADER]: _sig, ...unsigned } = headers;
    expect(await codeOf(t.provider.verifyWebhook('platform', raw, unsigned))).toBe(
      'webhook_signature_invalid',
    );
    expect(
      await codeOf(t.provider.verifyWebhook('platform', raw, { ...headers, [SQUARE_SIGNATURE_HEADER]: 'x' })),
    ).toBe('webhook_signature_invalid');
    expect(await codeOf(t.provider.verifyWebhook('connect', raw, headers))).toBe('webhook_signature_invalid');
  });

  it('key rotation: with the new and the old key configured (comma-separated) a delivery signed with either passes', async () => {
    const { raw, headers } = delivery('payment.updated');
    const rotating = t.providerWith({ webhookSignatureKey: `new-key-after-rotation, ${t.signatureKey}` });
    expect((await rotating.verifyWebhook('platform', raw, headers)).eventId).toBeTruthy();
    const resigned = {
      ...headers,
      [SQUARE_SIGNATURE_HEADER]: squareSignature('new-key-after-rotation', t.receiver.url, raw),
    };
    expect((await rotating.verifyWebhook('platform', raw, resigned)).eventId).toBeTruthy();
    // The old key alone no longer accepts what the new key signed.
    expect(await codeOf(t.provider.verifyWebhook('platform', raw, resigned))).toBe(
      'webhook_signature_invalid',
    );
  });

  it('a signed body that is not a Square event, or not shaped as its type, is refused as malformed', async () => {
    const sign = (body: string): [Buffer, Record<string, string>] => {
      const raw = Buffer.from(body);
      return [raw, { [SQUARE_SIGNATURE_HEADER]: squareSignature(t.signatureKey, t.receiver.url, raw) }];
    };
    expect(await codeOf(t.provider.verifyWebhook('platform', ...sign('not json')))).toBe(
      'webhook_payload_invalid',
    );
    expect(await codeOf(t.provider.verifyWebhook('platform', ...sign('{"type":"payment.updated"}')))).toBe(
      'webhook_payload_invalid',
    );
    const envelope = {
      merchant_id: merchantId,
      type: 'refund.updated',
      event_id: 'e-1',
      created_at: new Date().toISOString(),
      data: {
        type: 'refund',
        id: 'r',
        object: { refund: { id: 'r', status: 'COMPLETED', amount_money: { amount: -5, currency: 'USD' } } },
      },
    };
    expect(await codeOf(t.provider.verifyWebhook('platform', ...sign(JSON.stringify(envelope))))).toBe(
      'webhook_payload_invalid',
    );
    const huge = JSON.stringify({
      ...envelope,
      data: {
        ...envelope.data,
        object: { refund: { id: 'r', status: 'COMPLETED', amount_money: { amount: 1 } } },
      },
    }).replace('"amount":1', '"amount":90071992547409931,"currency":"USD"');
    expect(await codeOf(t.provider.verifyWebhook('platform', ...sign(huge)))).toBe('webhook_payload_invalid');
    // An event type Settle does not handle is acknowledged as ignored.
    const other = await t.provider.verifyWebhook(
      'platform',
      ...sign(
        JSON.stringify({
          ...envelope,
          type: 'customer.created',
          data: { type: 'customer', id: 'c', object: {} },
        }),
      ),
    );
    expect(other.event).toEqual({ kind: 'ignored' });
  });

  it('payment events of an order Settle did not make, or of a merchant without a grant, are ignored', async () => {
    const raw = JSON.parse(delivery('payment.updated').raw.toString('utf8')) as {
      data: { object: { payment: { order_id?: string } } };
    };
    const foreign = structuredClone(raw);
    foreign.data.object.payment.order_id = 'NOTANORDER000000000000000000';
    expect((await t.provider.normalizeEvent('platform', foreign)).event).toEqual({ kind: 'ignored' });
    const noOrder = structuredClone(raw);
    delete noOrder.data.object.payment.order_id;
    expect((await t.provider.normalizeEvent('platform', noOrder)).event).toEqual({ kind: 'ignored' });
    const grant = await t.grants.load(merchantId);
    t.grants.drop(merchantId);
    try {
      expect((await t.provider.normalizeEvent('platform', raw)).event).toEqual({ kind: 'ignored' });
    } finally {
      if (grant !== null) t.grants.save(grant);
    }
    expect((await t.provider.normalizeEvent('platform', raw)).event.kind).toBe('checkout.completed');
  });

  it('listEvents: the same events from the Events API, oldest first, normalized alike', async () => {
    const listed: VerifiedEvent[] = [];
    for await (const v of t.provider.listEvents({ accountId: null, since: new Date(Date.now() - 3600_000) }))
      listed.push(v);
    const delivered = [...byType.values()].flat();
    expect(listed.map((v) => v.eventId).sort()).toEqual(delivered.map((v) => v.eventId).sort());
    const times = listed.map((v) => v.createdAt.getTime());
    expect(times).toEqual([...times].sort((a, b) => a - b));
    for (const v of listed) {
      const d = delivered.find((x) => x.eventId === v.eventId);
      expect(v.type).toBe(d?.type);
      expect(v.raw).toEqual(d?.raw);
      if (v.type !== 'payment.created' && v.type !== 'payment.updated') expect(v.event).toEqual(d?.event);
    }
    // Only the platform has events; without the application's token there are none to read.
    const seller: VerifiedEvent[] = [];
    for await (const v of t.provider.listEvents({ accountId: merchantId, since: new Date(0) }))
      seller.push(v);
    expect(seller).toEqual([]);
    const noToken = t.providerWith({ config: { ...t.config, accessToken: null } });
    const none: VerifiedEvent[] = [];
    for await (const v of noToken.listEvents({ accountId: null, since: new Date(0) })) none.push(v);
    expect(none).toEqual([]);
  });

  it('registerSquareWebhook reuses the subscription at the same URL and its key', async () => {
    const app = squareClientFor(t.emu, t.emu.personalAccessToken);
    const again = await registerSquareWebhook(app, t.receiver.url);
    expect(again.signatureKey).toBe(t.signatureKey);
    expect((await app.webhooks.subscriptions.list()).data).toHaveLength(1);
  });

  it('createSquareProvider builds from configuration and refuses an incomplete one', () => {
    const base = loadConfig({ LOG_LEVEL: 'silent' });
    const config = { ...base, square: t.config };
    const { provider } = createSquareProvider(config, { grants: t.grants });
    expect(provider.id).toBe('square');
    expect(provider.livemode).toBe(false);
    expect(provider.oauth.requiredScopes).toContain('PAYMENTS_WRITE_ADDITIONAL_RECIPIENTS');
    expect(() =>
      createSquareProvider({ ...config, square: { ...t.config, applicationId: null } }, { grants: t.grants }),
    ).toThrow(/not configured/);
    expect(() =>
      createSquareProvider(
        { ...config, square: { ...t.config, webhookSignatureKey: null } },
        { grants: t.grants },
      ),
    ).toThrow(/SQUARE_WEBHOOK_SIGNATURE_KEY/);
    expect(
      createSquareProvider(
        { ...config, square: { ...t.config, webhookSignatureKey: null } },
        { grants: t.grants, webhookSignatureKeyOverride: 'k' },
      ).provider.id,
    ).toBe('square');
  });

  it('doctor: every check passes against the emulator; a wrong key, a missing token, and no Square are reported', async () => {
    const base = loadConfig({ LOG_LEVEL: 'silent' });
    const config = { ...base, square: t.config, sealingKeys: randomSealingKeys() };
    const checks = await runSquareDoctor({ config, grants: t.grants });
    expect(checks.filter((c) => !c.ok)).toEqual([]);
    expect(checks.map((c) => c.name)).toEqual([
      'square.environment',
      'square.credentials',
      'square.webhook',
      'square.events',
      'square.encryption',
      'square.sellers',
    ]);
    const wrongKey = await runSquareDoctor({
      config: { ...config, square: { ...t.config, webhookSignatureKey: 'nope' } },
    });
    expect(wrongKey.find((c) => c.name === 'square.webhook')).toMatchObject({ ok: false });
    const noToken = await runSquareDoctor({
      config: { ...config, square: { ...t.config, accessToken: null } },
    });
    expect(noToken.find((c) => c.name === 'square.credentials')).toMatchObject({ ok: false });
    expect(noToken.find((c) => c.name === 'square.credentials')?.fix).toMatch(/SQUARE_ACCESS_TOKEN/);
    const off = await runSquareDoctor({
      config: { ...config, square: { ...t.config, applicationId: null } },
    });
    expect(off).toEqual([expect.objectContaining({ name: 'square', ok: true })]);
    expect(JSON.stringify([checks, wrongKey, noToken])).not.toContain(t.emu.personalAccessToken);
  });
});
