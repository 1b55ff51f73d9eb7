import { sql, type Kysely } from 'kysely';

/**
 * Subscriptions (issue 13): sellers' plans and their immutable prices, the provider's copy of each price per account,
 * one subscription record per buyer and plan, one period per paid invoice (with the period's booking allowance), and
 * bookings made with a membership. Refunds gain `period_id`: an invoice is refunded through the same refund path as an
 * order, and a refund belongs to exactly one of the two. Also an index the hold lookups by order lacked (every
 * confirmation's own-hold lookup and every releaseHold scanned the whole holds table).
 */
const DDL = `
    CREATE TABLE plans (
      id text PRIMARY KEY,
      seller_id text NOT NULL REFERENCES sellers(id),
      listing_id text REFERENCES listings(id),
      name text NOT NULL,
      interval text NOT NULL CHECK (interval IN ('month','year')),
      trial_days integer NOT NULL DEFAULT 0 CHECK (trial_days BETWEEN 0 AND 730),
      included_bookings integer NOT NULL DEFAULT 0 CHECK (included_bookings >= 0),
      status text NOT NULL DEFAULT 'active' CHECK (status IN ('active','archived')),
      created_at timestamptz NOT NULL DEFAULT now(),
      updated_at timestamptz NOT NULL DEFAULT now()
    );
    CREATE INDEX plans_seller_idx ON plans (seller_id);
    CREATE TABLE plan_prices (
      id text PRIMARY KEY,
      plan_id text NOT NULL REFERENCES plans(id),
      currency text NOT NULL,
      unit_amount bigint NOT NULL CHECK (unit_amount > 0),
      active boolean NOT NULL DEFAULT true,
      created_at timestamptz NOT NULL DEFAULT now()
    );
    CREATE UNIQUE INDEX plan_prices_one_active ON plan_prices (plan_id) WHERE active;
    CREATE TABLE provider_prices (
      plan_price_id text NOT NULL REFERENCES plan_prices(id),
      provider text NOT NULL CHECK (provider IN ('stripe','paypal','square')),
      provider_account text NOT NULL,
      provider_price_id text NOT NULL,
      created_at timestamptz NOT NULL DEFAULT now(),
      PRIMARY KEY (plan_price_id, provider, provider_account)
    );
    CREATE TABLE subscriptions (
      id text PRIMARY KEY,
      plan_id text NOT NULL REFERENCES plans(id),
      plan_price_id text NOT NULL REFERENCES plan_prices(id),
      seller_id text NOT NULL REFERENCES sellers(id),
      buyer_email text NOT NULL,
      status text NOT NULL CHECK (status IN ('pending','checkout_expired','incomplete','incomplete_expired',
        'trialing','active','past_due','unpaid','paused','canceled')),
      provider text NOT NULL CHECK (provider IN ('stripe','paypal','square')),
      charge_type text NOT NULL CHECK (charge_type IN ('direct','destination')),
      provider_account_id text NOT NULL,
      currency text NOT NULL,
      unit_amount bigint NOT NULL,
      fee_bps integer NOT NULL,
      included_bookings integer NOT NULL,
      provider_session_id text,
      checkout_url text,
      checkout_expires_at timestamptz,
      provider_subscription_id text,
      provider_customer_id text,
      cancel_at_period_end boolean NOT NULL DEFAULT false,
      current_period_start timestamptz,
      current_period_end timestamptz,
      trial_end timestamptz,
      past_due_since timestamptz,
      ended_at timestamptz,
      manage_token_hash text NOT NULL UNIQUE,
      checkout_key text UNIQUE,
      created_at timestamptz NOT NULL DEFAULT now(),
      updated_at timestamptz NOT NULL DEFAULT now()
    );
    CREATE UNIQUE INDEX subscriptions_provider_subscription_uq ON subscriptions (provider, provider_subscription_id)
      WHERE provider_subscription_id IS NOT NULL;
    CREATE UNIQUE INDEX subscriptions_session_uq ON subscriptions (provider, provider_session_id)
      WHERE provider_session_id IS NOT NULL;
    CREATE UNIQUE INDEX subscriptions_one_live_per_buyer ON subscriptions (plan_id, lower(buyer_email))
      WHERE status IN ('pending','incomplete','trialing','active','past_due','unpaid','paused');
    CREATE INDEX subscriptions_seller_idx ON subscriptions (seller_id, created_at);
    CREATE TABLE subscription_events (
      id bigserial PRIMARY KEY,
      subscription_id text NOT NULL REFERENCES subscriptions(id),
      from_status text,
      to_status text NOT NULL,
      note text,
      via text,
      created_at timestamptz NOT NULL DEFAULT now()
    );
    CREATE INDEX subscription_events_subscription_idx ON subscription_events (subscription_id, id);
    CREATE TABLE subscription_periods (
      id text PRIMARY KEY,
      subscription_id text NOT NULL REFERENCES subscriptions(id),
      provider text NOT NULL CHECK (provider IN ('stripe','paypal','square')),
      provider_invoice_id text NOT NULL,
      billing_reason text,
      period_start timestamptz NOT NULL,
      period_end timestamptz NOT NULL,
      amount_paid bigint NOT NULL CHECK (amount_paid >= 0),
      currency text NOT NULL,
      application_fee bigint NOT NULL DEFAULT 0,
      provider_payment_id text,
      included_bookings integer NOT NULL,
      used_bookings integer NOT NULL DEFAULT 0 CHECK (used_bookings >= 0),
      refunded_amount bigint NOT NULL DEFAULT 0 CHECK (refunded_amount >= 0 AND refunded_amount <= amount_paid),
      paid_at timestamptz NOT NULL,
      created_at timestamptz NOT NULL DEFAULT now(),
      UNIQUE (provider, provider_invoice_id),
      CHECK (included_bookings = 0 OR used_bookings <= included_bookings)
    );
    CREATE INDEX subscription_periods_subscription_idx ON subscription_periods (subscription_id, period_start);
    CREATE TABLE membership_bookings (
      id text PRIMARY KEY,
      subscription_id text NOT NULL REFERENCES subscriptions(id),
      period_id text NOT NULL REFERENCES subscription_periods(id),
      slot_id text NOT NULL REFERENCES slots(id),
      quantity integer NOT NULL CHECK (quantity > 0),
      status text NOT NULL CHECK (status IN ('booked','canceled')),
      created_at timestamptz NOT NULL DEFAULT now(),
      canceled_at timestamptz
    );
    CREATE INDEX membership_bookings_subscription_idx ON membership_bookings (subscription_id, created_at);
    CREATE INDEX membership_bookings_slot_idx ON membership_bookings (slot_id);
    ALTER TABLE refunds ALTER COLUMN order_id DROP NOT NULL;
    ALTER TABLE refunds ADD COLUMN period_id text REFERENCES subscription_periods(id);
    ALTER TABLE refunds ADD CONSTRAINT refunds_one_owner CHECK ((order_id IS NULL) <> (period_id IS NULL));
    CREATE INDEX refunds_period_idx ON refunds (period_id) WHERE period_id IS NOT NULL;
    CREATE INDEX holds_order_idx ON holds (order_id)
`;

export async function up(db: Kysely<unknown>): Promise<void> {
  for (const statement of DDL.split(/;\s*\n/)) {
    if (statement.trim() !== '') await sql.raw(statement).execute(db);
  }
}
