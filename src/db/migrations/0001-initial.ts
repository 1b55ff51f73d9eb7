import { sql, type Kysely } from 'kysely';

/**
 * Initial schema. Plain PostgreSQL DDL: the same statements run on PGlite (embedded) and on a server.
 * Every index is listed in docs/schema.md with the query it serves.
 */
const DDL = `
    CREATE TABLE sellers (
      id text PRIMARY KEY,
      name text NOT NULL,
      email text NOT NULL,
      provider text NOT NULL DEFAULT 'stripe' CHECK (provider IN ('stripe','paypal','square')),
      provider_account_id text,
      charge_type text NOT NULL CHECK (charge_type IN ('direct','destination')),
      details_submitted boolean NOT NULL DEFAULT false,
      charges_enabled boolean NOT NULL DEFAULT false,
      payouts_enabled boolean NOT NULL DEFAULT false,
      account_synced_at timestamptz,
      fee_bps integer NOT NULL CHECK (fee_bps BETWEEN 0 AND 10000),
      fee_fixed bigint NOT NULL CHECK (fee_fixed >= 0),
      created_at timestamptz NOT NULL DEFAULT now()
    );
    CREATE UNIQUE INDEX sellers_provider_account_uq ON sellers (provider, provider_account_id)
      WHERE provider_account_id IS NOT NULL;

    CREATE TABLE listings (
      id text PRIMARY KEY,
      seller_id text NOT NULL REFERENCES sellers(id),
      title text NOT NULL,
      description text NOT NULL DEFAULT '',
      currency text NOT NULL,
      unit_amount bigint NOT NULL CHECK (unit_amount >= 0),
      created_at timestamptz NOT NULL DEFAULT now()
    );
    CREATE INDEX listings_seller_idx ON listings (seller_id);

    CREATE TABLE slots (
      id text PRIMARY KEY,
      listing_id text NOT NULL REFERENCES listings(id),
      starts_at timestamptz NOT NULL,
      capacity integer NOT NULL CHECK (capacity >= 0),
      sold integer NOT NULL DEFAULT 0 CHECK (sold >= 0),
      created_at timestamptz NOT NULL DEFAULT now(),
      CONSTRAINT slots_sold_within_capacity CHECK (sold <= capacity)
    );
    CREATE INDEX slots_listing_idx ON slots (listing_id, starts_at);

    CREATE TABLE promotion_codes (
      id text PRIMARY KEY,
      code text NOT NULL,
      percent_off numeric(5,2) CHECK (percent_off > 0 AND percent_off <= 100),
      amount_off bigint CHECK (amount_off > 0),
      currency text,
      active boolean NOT NULL DEFAULT true,
      provider text NOT NULL DEFAULT 'stripe',
      provider_promotion_code_id text,
      created_at timestamptz NOT NULL DEFAULT now(),
      CONSTRAINT promotion_codes_one_kind CHECK ((percent_off IS NULL) <> (amount_off IS NULL)),
      CONSTRAINT promotion_codes_amount_has_currency CHECK (amount_off IS NULL OR currency IS NOT NULL)
    );
    CREATE UNIQUE INDEX promotion_codes_code_uq ON promotion_codes (provider, upper(code));
    CREATE UNIQUE INDEX promotion_codes_provider_id_uq ON promotion_codes (provider, provider_promotion_code_id)
      WHERE provider_promotion_code_id IS NOT NULL;

    CREATE TABLE orders (
      id text PRIMARY KEY,
      seller_id text NOT NULL REFERENCES sellers(id),
      listing_id text NOT NULL REFERENCES listings(id),
      slot_id text NOT NULL REFERENCES slots(id),
      quantity integer NOT NULL CHECK (quantity > 0),
      currency text NOT NULL,
      unit_amount bigint NOT NULL CHECK (unit_amount >= 0),
      subtotal bigint NOT NULL CHECK (subtotal >= 0),
      discount bigint NOT NULL CHECK (discount >= 0),
      total bigint NOT NULL CHECK (total >= 0),
      platform_fee bigint NOT NULL CHECK (platform_fee >= 0 AND platform_fee <= total),
      promotion_code text,
      status text NOT NULL CHECK (status IN ('pending','processing','paid','paid_oversold','needs_review','failed','expired','canceled','refunded')),
      review_reason text,
      buyer_email text,
      provider text NOT NULL,
      charge_type text NOT NULL CHECK (charge_type IN ('direct','destination')),
      provider_account_id text,
      provider_session_id text,
      provider_payment_id text,
      confirmed_via text CHECK (confirmed_via IN ('webhook','frontend','reconcile')),
      refunded_amount bigint NOT NULL DEFAULT 0 CHECK (refunded_amount >= 0),
      dispute_status text,
      expires_at timestamptz NOT NULL,
      paid_at timestamptz,
      created_at timestamptz NOT NULL DEFAULT now(),
      updated_at timestamptz NOT NULL DEFAULT now(),
      CONSTRAINT orders_total_is_subtotal_minus_discount CHECK (total = subtotal - discount),
      CONSTRAINT orders_refund_within_total CHECK (refunded_amount <= total)
    );
    CREATE UNIQUE INDEX orders_provider_session_uq ON orders (provider, provider_session_id) WHERE provider_session_id IS NOT NULL;
    CREATE UNIQUE INDEX orders_provider_payment_uq ON orders (provider, provider_payment_id) WHERE provider_payment_id IS NOT NULL;
    CREATE INDEX orders_status_expires_idx ON orders (status, expires_at);
    CREATE INDEX orders_created_idx ON orders (created_at DESC);
    CREATE INDEX orders_slot_idx ON orders (slot_id);

    CREATE TABLE holds (
      id text PRIMARY KEY,
      slot_id text NOT NULL REFERENCES slots(id),
      order_id text NOT NULL UNIQUE REFERENCES orders(id),
      quantity integer NOT NULL CHECK (quantity > 0),
      expires_at timestamptz NOT NULL,
      released_at timestamptz,
      release_reason text,
      created_at timestamptz NOT NULL DEFAULT now()
    );
    CREATE INDEX holds_active_slot_idx ON holds (slot_id, expires_at) WHERE released_at IS NULL;

    CREATE TABLE order_events (
      id bigserial PRIMARY KEY,
      order_id text NOT NULL REFERENCES orders(id),
      from_status text,
      to_status text NOT NULL,
      note text,
      via text,
      created_at timestamptz NOT NULL DEFAULT now()
    );
    CREATE INDEX order_events_order_idx ON order_events (order_id, id);

    CREATE TABLE payments (
      id text PRIMARY KEY,
      order_id text NOT NULL UNIQUE REFERENCES orders(id),
      provider text NOT NULL,
      provider_payment_id text,
      amount bigint NOT NULL CHECK (amount >= 0),
      currency text NOT NULL,
      application_fee bigint NOT NULL DEFAULT 0 CHECK (application_fee >= 0),
      status text NOT NULL,
      created_at timestamptz NOT NULL DEFAULT now()
    );

    CREATE TABLE refunds (
      id text PRIMARY KEY,
      order_id text NOT NULL REFERENCES orders(id),
      amount bigint NOT NULL CHECK (amount > 0),
      currency text NOT NULL,
      status text NOT NULL CHECK (status IN ('pending','succeeded','failed')),
      reason text NOT NULL,
      idempotency_key text NOT NULL UNIQUE,
      provider_refund_id text UNIQUE,
      failure_reason text,
      created_at timestamptz NOT NULL DEFAULT now(),
      updated_at timestamptz NOT NULL DEFAULT now()
    );
    CREATE INDEX refunds_order_idx ON refunds (order_id);

    CREATE TABLE disputes (
      id text PRIMARY KEY,
      order_id text REFERENCES orders(id),
      provider text NOT NULL,
      provider_dispute_id text NOT NULL,
      provider_payment_id text,
      amount bigint NOT NULL,
      currency text NOT NULL,
      reason text,
      status text NOT NULL,
      outcome text CHECK (outcome IN ('won','lost')),
      created_at timestamptz NOT NULL DEFAULT now(),
      updated_at timestamptz NOT NULL DEFAULT now(),
      UNIQUE (provider, provider_dispute_id)
    );
    CREATE INDEX disputes_order_idx ON disputes (order_id);

    CREATE TABLE webhook_events (
      id bigserial PRIMARY KEY,
      provider text NOT NULL,
      endpoint text NOT NULL,
      account text NOT NULL DEFAULT '',
      event_id text NOT NULL,
      type text NOT NULL,
      livemode boolean NOT NULL,
      event_created timestamptz NOT NULL,
      payload jsonb NOT NULL,
      status text NOT NULL DEFAULT 'received' CHECK (status IN ('received','processed','failed','ignored')),
      attempts integer NOT NULL DEFAULT 0,
      last_error text,
      received_at timestamptz NOT NULL DEFAULT now(),
      processed_at timestamptz,
      UNIQUE (provider, event_id)
    );
    CREATE INDEX webhook_events_status_idx ON webhook_events (status, received_at);

    CREATE TABLE jobs (
      id bigserial PRIMARY KEY,
      kind text NOT NULL,
      dedupe_key text NOT NULL UNIQUE,
      payload jsonb NOT NULL,
      status text NOT NULL DEFAULT 'queued' CHECK (status IN ('queued','running','done','dead')),
      attempts integer NOT NULL DEFAULT 0,
      max_attempts integer NOT NULL DEFAULT 8,
      run_at timestamptz NOT NULL DEFAULT now(),
      locked_until timestamptz,
      last_error text,
      created_at timestamptz NOT NULL DEFAULT now(),
      finished_at timestamptz
    );
    CREATE INDEX jobs_due_idx ON jobs (run_at) WHERE status IN ('queued','running');

    CREATE TABLE notifications (
      id bigserial PRIMARY KEY,
      order_id text,
      kind text NOT NULL,
      recipient text NOT NULL,
      subject text NOT NULL,
      body text NOT NULL,
      dedupe_key text NOT NULL UNIQUE,
      created_at timestamptz NOT NULL DEFAULT now()
    );
    CREATE INDEX notifications_order_idx ON notifications (order_id, id);

    CREATE TABLE idempotency_keys (
      scope text NOT NULL,
      key text NOT NULL,
      request_hash text NOT NULL,
      status text NOT NULL CHECK (status IN ('in_flight','done')),
      response_status integer,
      response_body jsonb,
      created_at timestamptz NOT NULL DEFAULT now(),
      PRIMARY KEY (scope, key)
    );
    CREATE INDEX idempotency_keys_created_idx ON idempotency_keys (created_at);
`;

export async function up(db: Kysely<unknown>): Promise<void> {
  // One statement per round trip: PGlite's extended protocol takes a single statement.
  for (const statement of DDL.split(/;\s*\n/)) {
    if (statement.trim() !== '') await sql.raw(statement).execute(db);
  }
}

export async function down(db: Kysely<unknown>): Promise<void> {
  await sql
    .raw(
      `DROP TABLE IF EXISTS idempotency_keys, notifications, jobs, webhook_events, disputes, refunds, payments,
        order_events, holds, orders, promotion_codes, slots, listings, sellers CASCADE`,
    )
    .execute(db);
}
