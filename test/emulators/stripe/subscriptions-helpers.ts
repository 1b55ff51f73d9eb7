import { expect } from 'vitest';
import type Stripe from 'stripe';
import {
  OBJECT_FIELDS,
  OBJECT_FIELD_TYPES,
  OBJECT_OPTIONAL_FIELDS,
} from '../../../src/emulators/stripe/spec/objects.generated.js';

/** The kind of a JSON value as OBJECT_FIELD_TYPES names it. */
function kindOf(v: unknown): string {
  if (v === null) return 'null';
  if (Array.isArray(v)) return 'array';
  // The SDK turns decimal strings (`unit_amount_decimal`) into its Decimal class: a string on the wire.
  if (typeof v === 'object' && v.constructor.name === 'DecimalImpl') return 'string';
  return typeof v;
}

/** Every field the pinned SDK's type requires present, none unknown, each of a type the SDK allows. */
export function expectShape(obj: object): void {
  const type = (obj as { object: string }).object;
  const known = OBJECT_FIELDS[type];
  if (known === undefined) throw new Error(`no generated fields for ${type}`);
  const optional = new Set(OBJECT_OPTIONAL_FIELDS[type] ?? []);
  const types = OBJECT_FIELD_TYPES[type] ?? {};
  const record = obj as Record<string, unknown>;
  const keys = Object.keys(obj);
  const missing = known.filter((f) => !optional.has(f) && !keys.includes(f));
  const unknown = keys.filter((k) => !known.includes(k));
  const mistyped = keys
    .filter((k) => types[k] !== undefined && !(types[k] ?? '').split('|').includes(kindOf(record[k])))
    .map((k) => `${k}: ${kindOf(record[k])} (SDK: ${types[k]})`);
  expect({ type, missing, unknown, mistyped }).toEqual({ type, missing: [], unknown: [], mistyped: [] });
}

/** Advances a test clock and waits until it is `ready` again. */
export async function advanceClock(
  stripe: Stripe,
  clockId: string,
  frozenTime: number,
  opts: Stripe.RequestOptions = {},
): Promise<Stripe.TestHelpers.TestClock> {
  const advancing = await stripe.testHelpers.testClocks.advance(clockId, { frozen_time: frozenTime }, opts);
  expect(advancing.status).toBe('advancing');
  const start = Date.now();
  for (;;) {
    const clock = await stripe.testHelpers.testClocks.retrieve(clockId, {}, opts);
    if (clock.status === 'ready') return clock;
    if (clock.status !== 'advancing') throw new Error(`test clock ${clockId} is ${clock.status}`);
    if (Date.now() - start > 5000) throw new Error('test clock still advancing');
    await new Promise((r) => setTimeout(r, 5));
  }
}

export const DAY = 86_400;
/** A fixed start for test clocks: 2026-01-15T12:00:00Z. */
export const T0 = Date.UTC(2026, 0, 15, 12) / 1000;
