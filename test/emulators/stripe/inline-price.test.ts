import { afterAll, beforeAll, expect, it } from 'vitest';
import { refusal, sessionParams, startHarness, type Harness } from './helpers.js';

/**
 * A Checkout line item's inline price (`price_data`) is a Price of its own, inactive, which Stripe serves by id like
 * any other; a sync tool (bench/peer.ts's stripe-sync-engine) looks the session's prices up that way.
 */
let h: Harness;
beforeAll(async () => {
  h = await startHarness();
});
afterAll(async () => {
  await h?.close();
});

it("a session's inline price is retrievable by id, inactive, with its amount and currency", async () => {
  const session = await h.stripe.checkout.sessions.create(sessionParams({}, 4200));
  const items = await h.stripe.checkout.sessions.listLineItems(session.id);
  const price = items.data[0]?.price;
  expect(price?.id).toMatch(/^price_/);
  const fetched = await h.stripe.prices.retrieve(price?.id ?? '');
  expect(fetched).toMatchObject({
    id: price?.id,
    active: false,
    unit_amount: 4200,
    currency: 'eur',
    type: 'one_time',
  });
  // A price id no session made is still refused with Stripe's resource_missing.
  const err = await refusal(h.stripe.prices.retrieve('price_doesnotexist'));
  expect(err.code).toBe('resource_missing');
});
