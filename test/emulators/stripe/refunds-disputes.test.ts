import type Stripe from 'stripe';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { onboardedAccount, sessionParams, startHarness, waitFor, type Harness } from './helpers.js';

let h: Harness;
let seller: Stripe.Account;

beforeAll(async () => {
  h = await startHarness({ disputeDelayMs: 2000 }); // 20 ms at timeScale 0.01
  seller = await onboardedAccount(h.stripe);
});
afterAll(async () => {
  await h.close();
});

async function paidDestination(
  card = '4242424242424242',
): Promise<{ pi: Stripe.PaymentIntent; charge: Stripe.Charge }> {
  const s = await h.stripe.checkout.sessions.create(
    sessionParams({
      payment_intent_data: { application_fee_amount: 1000, transfer_data: { destination: seller.id } },
    }),
  );
  const r = await h.emu.paySession(s.id, { card_number: card });
  expect(r.status).toBe(303);
  const done = await h.stripe.checkout.sessions.retrieve(s.id);
  const pi = await h.stripe.paymentIntents.retrieve(String(done.payment_intent));
  const charge = await h.stripe.charges.retrieve(String(pi.latest_charge));
  return { pi, charge };
}

describe('refunds', () => {
  it('partial then full refund with fee refund and transfer reversal; over-refund rejected', async () => {
    const { pi, charge } = await paidDestination();
    expect(charge.amount).toBe(10000);
    const r1 = await h.stripe.refunds.create({
      payment_intent: pi.id,
      amount: 2500,
      refund_application_fee: true,
      reverse_transfer: true,
      metadata: { reason: 'partial' },
    });
    expect(r1.id).toMatch(/^re_/);
    expect(r1).toMatchObject({
      amount: 2500,
      status: 'succeeded',
      charge: charge.id,
      metadata: { reason: 'partial' },
    });
    let ch = await h.stripe.charges.retrieve(charge.id);
    expect(ch.amount_refunded).toBe(2500);
    expect(ch.refunded).toBe(false);
    const fee = await h.stripe.applicationFees.retrieve(String(charge.application_fee));
    expect(fee.amount_refunded).toBe(250);
    const tr = await h.stripe.transfers.retrieve(String(charge.transfer));
    // The full charge is transferred (the fee is collected back from the seller), so a quarter refund reverses a quarter.
    expect(tr.amount).toBe(10000);
    expect(tr.amount_reversed).toBe(2500);

    await expect(h.stripe.refunds.create({ charge: charge.id, amount: 8000 })).rejects.toMatchObject({
      statusCode: 400,
      param: 'amount',
    });
    const r2 = await h.stripe.refunds.create({
      charge: charge.id,
      refund_application_fee: true,
      reverse_transfer: true,
    });
    expect(r2.amount).toBe(7500);
    ch = await h.stripe.charges.retrieve(charge.id);
    expect(ch.refunded).toBe(true);
    expect((await h.stripe.applicationFees.retrieve(fee.id)).refunded).toBe(true);
    expect((await h.stripe.transfers.retrieve(tr.id)).amount_reversed).toBe(10000);
    await expect(h.stripe.refunds.create({ payment_intent: pi.id })).rejects.toMatchObject({
      statusCode: 400,
      code: 'charge_already_refunded',
    });

    await h.emu.idle();
    const types = h.platform.received
      .filter((x) => JSON.stringify(x.event.data.object).includes(charge.id))
      .map((x) => x.event.type);
    expect(types.filter((t) => t === 'charge.refunded')).toHaveLength(2);
    expect(types.filter((t) => t === 'refund.created')).toHaveLength(2);
    expect(types.filter((t) => t === 'refund.updated')).toHaveLength(2);
    const refunds = await h.stripe.refunds.list({ payment_intent: pi.id });
    expect(refunds.data.map((r) => r.id)).toEqual([r2.id, r1.id]);
  });

  it('refunds on a direct charge need Stripe-Account', async () => {
    const s = await h.stripe.checkout.sessions.create(sessionParams(), { stripeAccount: seller.id });
    await h.emu.paySession(s.id, { card_number: '4242424242424242' });
    const done = await h.stripe.checkout.sessions.retrieve(s.id, {}, { stripeAccount: seller.id });
    await expect(
      h.stripe.refunds.create({ payment_intent: String(done.payment_intent) }),
    ).rejects.toMatchObject({
      statusCode: 404,
      code: 'resource_missing',
    });
    const r = await h.stripe.refunds.create(
      { payment_intent: String(done.payment_intent) },
      { stripeAccount: seller.id },
    );
    expect(r.amount).toBe(10000);
    await h.emu.idle();
    const refunded = h.connect.received.find(
      (x) => x.event.type === 'charge.refunded' && x.event.account === seller.id,
    );
    expect((refunded?.event.data.object as Stripe.Charge | undefined)?.refunded).toBe(true);
  });
});

describe('disputes', () => {
  it('the 0259 card is disputed after the delay; closing as won and lost emits charge.dispute.closed', async () => {
    const a = await paidDestination('4000000000000259');
    const b = await paidDestination('4000000000000259');
    await h.emu.idle();
    const disputes = await h.stripe.disputes.list({ limit: 10 });
    const da = disputes.data.find((d) => d.charge === a.charge.id);
    const db = disputes.data.find((d) => d.charge === b.charge.id);
    expect(da?.id).toMatch(/^dp_/);
    expect(da?.status).toBe('needs_response');
    expect(da?.amount).toBe(10000);
    expect((await h.stripe.charges.retrieve(a.charge.id)).disputed).toBe(true);
    expect(h.platform.types().filter((t) => t === 'charge.dispute.created').length).toBeGreaterThanOrEqual(2);

    await h.emu.closeDispute(String(da?.id), 'won');
    const res = await fetch(`${h.emu.url}/_emulator/disputes/${String(db?.id)}/close`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ outcome: 'lost' }),
    });
    expect(res.status).toBe(200);
    await h.emu.idle();
    expect((await h.stripe.disputes.retrieve(String(da?.id))).status).toBe('won');
    expect((await h.stripe.disputes.retrieve(String(db?.id))).status).toBe('lost');
    await waitFor(() => h.platform.types().filter((t) => t === 'charge.dispute.closed').length === 2);
    const closed = h.platform.received
      .filter((x) => x.event.type === 'charge.dispute.closed')
      .map((x) => (x.event.data.object as Stripe.Dispute).status)
      .sort();
    expect(closed).toEqual(['lost', 'won']);
    await expect(h.emu.closeDispute(String(da?.id), 'lost')).rejects.toThrow(/already closed/);
  });
});
