import { sql, type Kysely } from 'kysely';

/**
 * Hardening (issue 8):
 * - `orders.charged_amount`: what the provider actually charged (set by confirmPayment). Refunds are capped by it
 *   and compared against it, so an underpaid order in review can be refunded exactly and closed.
 * - `orders.checkout_key`: the buyer's Idempotency-Key digest; a re-run of the same checkout request finds the
 *   order it already created instead of creating a second order and hold.
 * - `webhook_events.claimed_until`: a lease on an inbox row while one request processes it, so a concurrent
 *   duplicate delivery waits for the outcome (or takes over an abandoned lease) instead of being acknowledged unprocessed.
 * - Indexes for the retention sweep.
 */
const DDL = `
    ALTER TABLE orders ADD COLUMN charged_amount bigint CHECK (charged_amount >= 0);
    UPDATE orders o SET charged_amount = p.amount FROM payments p WHERE p.order_id = o.id;
    ALTER TABLE orders DROP CONSTRAINT orders_refund_within_total;
    ALTER TABLE orders ADD CONSTRAINT orders_refund_within_charged CHECK (refunded_amount <= coalesce(charged_amount, total));
    ALTER TABLE orders ADD COLUMN checkout_key text;
    CREATE UNIQUE INDEX orders_checkout_key_uq ON orders (checkout_key) WHERE checkout_key IS NOT NULL;
    ALTER TABLE webhook_events ADD COLUMN claimed_until timestamptz;
    CREATE INDEX jobs_finished_idx ON jobs (finished_at) WHERE status = 'done';
    CREATE INDEX jobs_dead_idx ON jobs (kind) WHERE status = 'dead';
    CREATE INDEX holds_released_idx ON holds (released_at) WHERE released_at IS NOT NULL;
    CREATE INDEX notifications_created_idx ON notifications (created_at);
    CREATE INDEX orders_sweep_idx ON orders (expires_at, id) WHERE status IN ('pending', 'processing');
    CREATE INDEX refunds_pending_idx ON refunds (created_at) WHERE status = 'pending'
`;

export async function up(db: Kysely<unknown>): Promise<void> {
  for (const statement of DDL.split(/;\s*\n/)) {
    if (statement.trim() !== '') await sql.raw(statement).execute(db);
  }
}

export async function down(db: Kysely<unknown>): Promise<void> {
  for (const statement of [
    'DROP INDEX IF EXISTS refunds_pending_idx',
    'DROP INDEX IF EXISTS orders_sweep_idx',
    'DROP INDEX IF EXISTS notifications_created_idx',
    'DROP INDEX IF EXISTS holds_released_idx',
    'DROP INDEX IF EXISTS jobs_dead_idx',
    'DROP INDEX IF EXISTS jobs_finished_idx',
    'ALTER TABLE webhook_events DROP COLUMN IF EXISTS claimed_until',
    'DROP INDEX IF EXISTS orders_checkout_key_uq',
    'ALTER TABLE orders DROP COLUMN IF EXISTS checkout_key',
    'ALTER TABLE orders DROP CONSTRAINT IF EXISTS orders_refund_within_charged',
    'ALTER TABLE orders DROP COLUMN IF EXISTS charged_amount',
    'ALTER TABLE orders ADD CONSTRAINT orders_refund_within_total CHECK (refunded_amount <= total)',
  ]) {
    await sql.raw(statement).execute(db);
  }
}
