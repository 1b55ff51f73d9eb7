import { sql } from 'kysely';
import { afterEach, describe, expect, it } from 'vitest';
import { heldQuantity, lockSlot, takeInventory } from '../../src/core/inventory.js';
import { confirmPayment } from '../../src/core/confirm-payment.js';
import { createPendingOrder } from '../../src/core/orders.js';
import { transitionOrder } from '../../src/core/order-transitions.js';
import type { Executor } from '../../src/queue/outbox.js';
import { BACKENDS, freshDb, type TestDb } from '../helpers/db.js';
import { evidenceFor, marketplace } from '../helpers/fixtures.js';

/**
 * takeInventory() decides in one guarded UPDATE what it used to decide in three statements. This is the earlier
 * code, verbatim: the new one must give the identical decision for every state of the slot and its holds.
 */
async function takeInventoryBefore(
  trx: Executor,
  input: { slotId: string; orderId: string; quantity: number; now: Date },
): Promise<boolean> {
  const slot = await lockSlot(trx, input.slotId);
  if (slot === undefined) return false;
  const own = await trx
    .selectFrom('holds')
    .select('created_at')
    .where('order_id', '=', input.orderId)
    .executeTakeFirst();
  const heldByOthers = await heldQuantity(trx, input.slotId, input.now, input.orderId, own?.created_at);
  if (slot.sold + input.quantity + heldByOthers > slot.capacity) return false;
  const res = await trx
    .updateTable('slots')
    .set((eb) => ({ sold: eb('sold', '+', input.quantity) }))
    .where('id', '=', input.slotId)
    .where(sql<boolean>`sold + ${input.quantity} <= capacity`)
    .executeTakeFirst();
  return Number(res.numUpdatedRows) === 1;
}

/** Sets a hold's created_at to `base` plus a number of microseconds (finer than a JavaScript Date can carry). */
async function setCreatedAt(trx: Executor, orderId: string, base: string, micros: number): Promise<void> {
  await sql`update holds set created_at = ${base}::timestamptz + ${micros}::int * interval '1 microsecond'
    where order_id = ${orderId}`.execute(trx);
}

/** A small deterministic PRNG (mulberry32), so a failing case can be replayed. */
function rng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let x = a;
    x = Math.imul(x ^ (x >>> 15), x | 1);
    x ^= x + Math.imul(x ^ (x >>> 7), x | 61);
    return ((x ^ (x >>> 14)) >>> 0) / 4294967296;
  };
}

interface HoldState {
  orderId: string;
  quantity: number;
  released: boolean;
  /** Relative to now: expired, exactly now (not active), or active. */
  expires: -60_000 | 0 | 60_000;
  /** Microseconds after a millisecond boundary: several land in the same millisecond. */
  createdMicros: number;
  present: boolean;
}

describe.each(BACKENDS)('takeInventory on %s PostgreSQL', (backend) => {
  let t: TestDb;
  afterEach(async () => {
    await t?.destroy();
  });

  it('gives the identical decision as the earlier three-statement check in every generated case', async () => {
    t = await freshDb(backend);
    const { slot } = await marketplace(t.db, { capacity: 100 });
    const orders: string[] = [];
    for (let i = 0; i < 6; i++) {
      const o = await createPendingOrder(t.db, {
        slotId: slot.id,
        quantity: 1,
        provider: 'stripe',
        holdMinutes: 30,
      });
      orders.push(o.id);
    }
    const now = new Date('2030-06-01T12:00:00.000Z');
    const base = Date.parse('2030-06-01T11:00:00.000Z');
    // Microsecond offsets chosen around millisecond boundaries (0, 0.3, 0.999, 1.0, 1.5, 2.0 ms).
    const micros = [0, 300, 999, 1000, 1500, 2000];
    const random = rng(14);
    const pick = <T>(xs: readonly T[]): T => xs[Math.floor(random() * xs.length)] as T;

    const outcomes = { took: 0, refused: 0, ownless: 0, fast: 0, tookBySum: 0 };
    const cases = backend === 'embedded' ? 400 : 250;
    for (let c = 0; c < cases; c++) {
      const capacity = 1 + Math.floor(random() * 6);
      const sold = Math.floor(random() * (capacity + 1));
      const quantity = 1 + Math.floor(random() * 3);
      const holds: HoldState[] = orders.map((orderId, i) => ({
        orderId,
        quantity: 1 + Math.floor(random() * 3),
        released: random() < 0.2,
        expires: pick([-60_000, 0, 60_000, 60_000] as const),
        createdMicros: pick(micros),
        // The paying order (index 0) sometimes has no hold row at all.
        present: i !== 0 || random() < 0.8,
      }));
      const ours = orders[0] as string;
      const setUp = async (trx: Executor) => {
        await trx.updateTable('slots').set({ capacity: 100, sold: 0 }).where('id', '=', slot.id).execute();
        await trx.updateTable('slots').set({ capacity, sold }).where('id', '=', slot.id).execute();
        for (const h of holds) {
          if (!h.present) {
            await trx.deleteFrom('holds').where('order_id', '=', h.orderId).execute();
            continue;
          }
          await trx
            .updateTable('holds')
            .set({
              quantity: h.quantity,
              released_at: h.released ? now : null,
              expires_at: new Date(now.getTime() + h.expires),
            })
            .where('order_id', '=', h.orderId)
            .execute();
          await setCreatedAt(trx, h.orderId, new Date(base).toISOString(), h.createdMicros);
        }
      };
      let fastPath = false;
      const run = async (fn: typeof takeInventory) => {
        let took = false;
        let soldAfter = -1;
        await t.db
          .transaction()
          .execute(async (trx) => {
            await setUp(trx);
            // slots.held (migration 0008's trigger) is the quantity of the slot's unreleased holds, whatever wrote them.
            const counted = await trx
              .selectFrom('slots')
              .select([
                'held',
                sql<number>`(select coalesce(sum(quantity), 0)::int from holds where slot_id = slots.id and released_at is null)`.as(
                  'unreleased',
                ),
                sql<number>`(select coalesce(sum(quantity), 0)::int from holds where order_id = ${ours} and released_at is null)`.as(
                  'own',
                ),
              ])
              .where('id', '=', slot.id)
              .executeTakeFirstOrThrow();
            expect(counted.held).toBe(counted.unreleased);
            fastPath = sold + quantity + counted.held - counted.own <= capacity;
            took = await fn(trx, { slotId: slot.id, orderId: ours, quantity, now });
            soldAfter = (
              await trx.selectFrom('slots').select('sold').where('id', '=', slot.id).executeTakeFirstOrThrow()
            ).sold;
            throw new Error('rollback');
          })
          .catch((e: unknown) => {
            if (!(e instanceof Error) || e.message !== 'rollback') throw e;
          });
        return { took, soldAfter };
      };
      const before = await run(takeInventoryBefore);
      const after = await run(takeInventory);
      expect({ case: c, capacity, sold, quantity, holds, ...after }).toEqual({
        case: c,
        capacity,
        sold,
        quantity,
        holds,
        ...before,
      });
      outcomes[before.took ? 'took' : 'refused'] += 1;
      // The bound from `held` alone decides; otherwise the holds are summed (expired unreleased holds, a full slot).
      if (fastPath) outcomes.fast += 1;
      else if (before.took) outcomes.tookBySum += 1;
      if (!holds[0]?.present) outcomes.ownless += 1;
    }
    // The generated cases exercise both decisions and the order without a hold.
    expect(outcomes.took).toBeGreaterThan(cases / 10);
    expect(outcomes.refused).toBeGreaterThan(cases / 10);
    expect(outcomes.ownless).toBeGreaterThan(cases / 20);
    // Both of takeInventory's paths: decided by the held bound alone, and taken only after summing the holds.
    // (Most generated slots are nearly full of holds, so the bound alone decides only a few of them.)
    expect(outcomes.fast).toBeGreaterThan(0);
    expect(outcomes.tookBySum).toBeGreaterThan(cases / 50);
  });

  it('a hold placed in the same millisecond as the paying order’s own, but earlier, does not count as earlier', async () => {
    t = await freshDb(backend);
    const { slot } = await marketplace(t.db, { capacity: 10 });
    const a = await createPendingOrder(t.db, {
      slotId: slot.id,
      quantity: 1,
      provider: 'stripe',
      holdMinutes: 30,
    });
    const b = await createPendingOrder(t.db, {
      slotId: slot.id,
      quantity: 1,
      provider: 'stripe',
      holdMinutes: 30,
    });
    const now = new Date();
    const decide = async (ownMicros: number, otherMicros: number, fn: typeof takeInventory) => {
      let took = false;
      await t.db
        .transaction()
        .execute(async (trx) => {
          await trx.updateTable('slots').set({ capacity: 1, sold: 0 }).where('id', '=', slot.id).execute();
          await setCreatedAt(trx, a.id, '2030-01-01T00:00:00.000Z', ownMicros);
          await setCreatedAt(trx, b.id, '2030-01-01T00:00:00.000Z', otherMicros);
          took = await fn(trx, { slotId: slot.id, orderId: a.id, quantity: 1, now });
          throw new Error('rollback');
        })
        .catch((e: unknown) => {
          if (!(e instanceof Error) || e.message !== 'rollback') throw e;
        });
      return took;
    };
    for (const fn of [takeInventoryBefore, takeInventory]) {
      // b 0.5 ms earlier, same millisecond: not earlier at millisecond precision, so a takes the one place.
      expect(await decide(1700, 1200, fn)).toBe(true);
      // b in an earlier millisecond: b's hold keeps its place.
      expect(await decide(1700, 900, fn)).toBe(false);
      // b later: a takes it.
      expect(await decide(1700, 2100, fn)).toBe(true);
    }
  });
  it('slots.held follows the real flows: checkouts, confirmations (one combined statement), expiry and a processing hold', async () => {
    t = await freshDb(backend);
    const { slot } = await marketplace(t.db, { capacity: 20 });
    const orders = [];
    for (let i = 0; i < 6; i++)
      orders.push(
        await createPendingOrder(t.db, {
          slotId: slot.id,
          quantity: 1 + (i % 3),
          provider: 'stripe',
          holdMinutes: 30,
        }),
      );
    const check = async () => {
      const row = await t.db
        .selectFrom('slots')
        .select([
          'held',
          'sold',
          sql<number>`(select coalesce(sum(quantity), 0)::int from holds where slot_id = slots.id and released_at is null)`.as(
            'unreleased',
          ),
        ])
        .where('id', '=', slot.id)
        .executeTakeFirstOrThrow();
      expect(row.held).toBe(row.unreleased);
      return row;
    };
    expect((await check()).held).toBe(1 + 2 + 3 + 1 + 2 + 3);
    const [a, b, c, d] = orders;
    expect((await confirmPayment(t.db, a!.id, evidenceFor(a!))).outcome).toBe('confirmed');
    expect((await confirmPayment(t.db, b!.id, evidenceFor(b!))).outcome).toBe('confirmed');
    // A duplicate confirmation changes nothing.
    expect((await confirmPayment(t.db, a!.id, evidenceFor(a!))).outcome).toBe('already_handled');
    await transitionOrder(t.db, c!.id, 'expired');
    await transitionOrder(t.db, d!.id, 'processing', { holdUntil: new Date(Date.now() + 86_400_000) });
    const after = await check();
    expect(after.sold).toBe(1 + 2);
    expect(after.held).toBe(1 + 2 + 3);
  });
});
