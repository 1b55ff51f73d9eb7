import { sql, type Kysely } from 'kysely';

/**
 * Performance (issue 14): `slots.held`, the quantity of the slot's unreleased holds (released_at IS NULL, expired or
 * not), kept by a trigger on `holds` so no writer can forget it. It is never less than what active holds reserve
 * (an expired hold counts until it is released), so `sold + q + held − own ≤ capacity` proves there is room without
 * summing the holds: takeInventory() decides most confirmations from the slot row alone and sums the holds only
 * when that bound says the slot may be nearly full. The sum under the slot lock was what bounded one busy slot.
 */
const STATEMENTS = [
  `ALTER TABLE slots ADD COLUMN held integer NOT NULL DEFAULT 0`,
  `UPDATE slots SET held = h.q
     FROM (SELECT slot_id, sum(quantity)::int AS q FROM holds WHERE released_at IS NULL GROUP BY slot_id) h
    WHERE h.slot_id = slots.id`,
  `ALTER TABLE slots ADD CONSTRAINT slots_held_nonnegative CHECK (held >= 0)`,
  `CREATE FUNCTION settle_slot_held() RETURNS trigger LANGUAGE plpgsql AS $$
   BEGIN
     IF TG_OP IN ('UPDATE', 'DELETE') AND OLD.released_at IS NULL THEN
       UPDATE slots SET held = held - OLD.quantity WHERE id = OLD.slot_id;
     END IF;
     IF TG_OP IN ('INSERT', 'UPDATE') AND NEW.released_at IS NULL THEN
       UPDATE slots SET held = held + NEW.quantity WHERE id = NEW.slot_id;
     END IF;
     RETURN NULL;
   END $$`,
  // Not on updates of expires_at alone (extendHold): they do not change what is unreleased.
  `CREATE TRIGGER holds_slot_held AFTER INSERT OR DELETE OR UPDATE OF released_at, quantity, slot_id ON holds
     FOR EACH ROW EXECUTE FUNCTION settle_slot_held()`,
];

export async function up(db: Kysely<unknown>): Promise<void> {
  for (const statement of STATEMENTS) await sql.raw(statement).execute(db);
}

export async function down(db: Kysely<unknown>): Promise<void> {
  await sql.raw('DROP TRIGGER IF EXISTS holds_slot_held ON holds').execute(db);
  await sql.raw('DROP FUNCTION IF EXISTS settle_slot_held()').execute(db);
  await sql.raw('ALTER TABLE slots DROP COLUMN IF EXISTS held').execute(db);
}
