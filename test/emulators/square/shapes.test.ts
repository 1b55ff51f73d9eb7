import { serialization } from 'square';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  createLink,
  rawApi,
  startHarness,
  startReceiver,
  type Harness,
  type Receiver,
  type Seller,
} from './helpers.js';

/**
 * Every JSON body the emulator sends parses with the pinned SDK's own serializers in strict mode (unknown keys fail,
 * types and enums checked): the emulator uses Square's field names and shapes, not look-alikes.
 */
interface Parser {
  parse(
    raw: unknown,
    opts: { unrecognizedObjectKeys: 'fail'; allowUnrecognizedEnumValues: false; skipValidation: false },
  ): {
    ok: boolean;
    errors?: Array<{ path: string[]; message: string }>;
  };
}

function strict(schema: Parser, raw: unknown): string[] {
  const r = schema.parse(raw, {
    unrecognizedObjectKeys: 'fail',
    allowUnrecognizedEnumValues: false,
    skipValidation: false,
  });
  return r.ok ? [] : (r.errors ?? []).map((e) => `${e.path.join('.')}: ${e.message}`);
}

describe('Square emulator: answers and events parse strictly with the SDK’s serializers', () => {
  let h: Harness;
  let seller: Seller;
  let hook: Receiver;
  let linkId = '';
  let orderId = '';
  let paymentId = '';
  let refundId = '';
  let disputeId = '';
  let subscriptionId = '';
  beforeAll(async () => {
    h = await startHarness({ refundDelayMs: 10 });
    hook = await startReceiver();
    const sub = await rawApi(h.emu, h.emu.personalAccessToken, 'POST', '/v2/webhooks/subscriptions', {
      subscription: {
        notification_url: hook.url,
        event_types: [
          'payment.created',
          'payment.updated',
          'refund.created',
          'refund.updated',
          'order.created',
          'order.updated',
          'dispute.created',
          'dispute.state.updated',
          'oauth.authorization.revoked',
        ],
      },
    });
    subscriptionId = String((sub.json['subscription'] as Record<string, unknown>)['id']);
    seller = await h.connect();
    await seller.client.events.enableEvents();
    const link = await createLink(seller, { fee: 100 });
    linkId = link.linkId;
    orderId = link.orderId;
    paymentId = (await h.emu.payLink(linkId)).paymentId;
    refundId =
      (
        await seller.client.refunds.refundPayment({
          idempotencyKey: 'r',
          paymentId,
          amountMoney: { amount: 500n, currency: 'USD' },
          appFeeMoney: { amount: 20n, currency: 'USD' },
        })
      ).refund?.id ?? '';
    disputeId = (await h.emu.openDispute(paymentId)).disputeId;
    await h.emu.resolveDispute(disputeId, 'WON');
    await h.emu.idle();
    await h.emu.revoke(seller.merchantId);
    await h.emu.idle();
  });
  afterAll(async () => {
    await h.close();
    await hook.close();
  });

  it('API answers', async () => {
    const other = await h.connect();
    const token = other.accessToken;
    const otherLink = await createLink(other, { fee: 10 });
    const otherPayment = (await h.emu.payLink(otherLink.linkId)).paymentId;
    const get = async (method: string, path: string, body?: unknown, auth = token): Promise<unknown> =>
      (await rawApi(h.emu, auth, method, path, body)).json;
    const cases: Array<[string, Parser, unknown]> = [
      ['ListLocations', serialization.ListLocationsResponse, await get('GET', '/v2/locations')],
      ['RetrieveMerchant', serialization.GetMerchantResponse, await get('GET', '/v2/merchants/me')],
      ['ListMerchants', serialization.ListMerchantsResponse, await get('GET', '/v2/merchants')],
      [
        'RetrievePaymentLink',
        serialization.GetPaymentLinkResponse,
        await get('GET', `/v2/online-checkout/payment-links/${otherLink.linkId}`),
      ],
      [
        'ListPaymentLinks',
        serialization.ListPaymentLinksResponse,
        await get('GET', '/v2/online-checkout/payment-links'),
      ],
      [
        'CreatePaymentLink',
        serialization.CreatePaymentLinkResponse,
        await get('POST', '/v2/online-checkout/payment-links', {
          idempotency_key: 'shape',
          quick_pay: {
            name: 'x',
            price_money: { amount: 100, currency: 'USD' },
            location_id: other.locationId,
          },
          checkout_options: { redirect_url: 'https://x.example/r', allow_tipping: false },
          pre_populated_data: { buyer_email: 'a@b.co' },
        }),
      ],
      ['RetrieveOrder', serialization.GetOrderResponse, await get('GET', `/v2/orders/${otherLink.orderId}`)],
      [
        'BatchRetrieveOrders',
        serialization.BatchGetOrdersResponse,
        await get('POST', '/v2/orders/batch-retrieve', { order_ids: [otherLink.orderId] }),
      ],
      ['GetPayment', serialization.GetPaymentResponse, await get('GET', `/v2/payments/${otherPayment}`)],
      ['ListPayments', serialization.ListPaymentsResponse, await get('GET', '/v2/payments')],
      [
        'RefundPayment',
        serialization.RefundPaymentResponse,
        await get('POST', '/v2/refunds', {
          idempotency_key: 's',
          payment_id: otherPayment,
          amount_money: { amount: 5, currency: 'USD' },
        }),
      ],
      ['ListPaymentRefunds', serialization.ListPaymentRefundsResponse, await get('GET', '/v2/refunds')],
      ['TokenStatus', serialization.RetrieveTokenStatusResponse, await get('POST', '/oauth2/token/status')],
      [
        'GetRefund',
        serialization.GetPaymentRefundResponse,
        await get('GET', `/v2/refunds/${refundId}`, undefined, h.emu.personalAccessToken),
      ],
      [
        'SearchEvents',
        serialization.SearchEventsResponse,
        await get('POST', '/v2/events', {}, h.emu.personalAccessToken),
      ],
      ['ListEventTypes', serialization.ListEventTypesResponse, await get('GET', '/v2/events/types')],
      [
        'Subscription',
        serialization.GetWebhookSubscriptionResponse,
        await get(
          'GET',
          `/v2/webhooks/subscriptions/${subscriptionId}`,
          undefined,
          h.emu.personalAccessToken,
        ),
      ],
      [
        'Subscriptions',
        serialization.ListWebhookSubscriptionsResponse,
        await get('GET', '/v2/webhooks/subscriptions', undefined, h.emu.personalAccessToken),
      ],
      ['Error', serialization.GetPaymentResponse, await get('GET', '/v2/payments/nope')],
    ];
    const d = await h.emu.openDispute(otherPayment);
    cases.push([
      'RetrieveDispute',
      serialization.GetDisputeResponse,
      await get('GET', `/v2/disputes/${d.disputeId}`),
    ]);
    cases.push(['ListDisputes', serialization.ListDisputesResponse, await get('GET', '/v2/disputes')]);
    const code = (await h.emu.authorizeSeller()).code;
    cases.push([
      'ObtainToken',
      serialization.ObtainTokenResponse,
      await get('POST', '/oauth2/token', {
        client_id: h.emu.applicationId,
        client_secret: h.emu.applicationSecret,
        code,
        grant_type: 'authorization_code',
      }),
    ]);
    const problems = cases.flatMap(([name, schema, raw]) => strict(schema, raw).map((p) => `${name} ${p}`));
    expect(problems).toEqual([]);
    // The refund that was created by the one request above is where the seller's refund list has it.
    expect(refundId).toContain(`${paymentId}_`);
  });

  it('webhook events', () => {
    const schemas: Record<string, Parser> = {
      'payment.created': serialization.PaymentCreatedEvent,
      'payment.updated': serialization.PaymentUpdatedEvent,
      'refund.created': serialization.RefundCreatedEvent,
      'refund.updated': serialization.RefundUpdatedEvent,
      'order.created': serialization.OrderCreatedEvent,
      'order.updated': serialization.OrderUpdatedEvent,
      'dispute.created': serialization.DisputeCreatedEvent,
      'dispute.state.updated': serialization.DisputeStateUpdatedEvent,
      'oauth.authorization.revoked': serialization.OauthAuthorizationRevokedEvent,
    };
    expect(new Set(hook.types())).toEqual(new Set(Object.keys(schemas)));
    const problems = hook.ok.flatMap((d) => {
      const schema = schemas[d.event.type];
      return schema
        ? strict(schema, JSON.parse(d.raw)).map((p) => `${d.event.type} ${p}`)
        : [`${d.event.type}: no schema`];
    });
    expect(problems).toEqual([]);
    expect(orderId).toBeTruthy();
  });
});
