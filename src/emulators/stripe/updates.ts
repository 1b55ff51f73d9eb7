import { isDeepStrictEqual } from 'node:util';
import type Stripe from 'stripe';
import type { Engine, EventCause } from './engine.js';
import type { EventRecord, Scope } from './store.js';

/**
 * `data.previous_attributes` of a `*.updated` event: "Object containing the names of the updated attributes and
 * their values prior to the event (only included in events of type `*.updated`). If an array attribute has any
 * updated elements, this object contains the entire array." (the SDK's `Event.Data` documentation). A hash attribute
 * (`metadata`, `requirements`, …) carries only its changed keys, with `null` for keys it did not have, as Stripe's
 * events show (`"previous_attributes": {"metadata": {"order": null}}`).
 *
 * Take a `snapshot()` of the object before changing it, then `emitUpdated(engine, scope, type, object, snapshot)`.
 */
export function snapshot<T extends object>(o: T): Record<string, unknown> {
  return structuredClone(o) as Record<string, unknown>;
}

function isHash(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/** The old values of what changed between `before` and `after` (hashes recursively, arrays whole). */
export function previousAttributes(before: Record<string, unknown>, after: object): Record<string, unknown> {
  const now = after as Record<string, unknown>;
  const out: Record<string, unknown> = {};
  for (const key of new Set([...Object.keys(before), ...Object.keys(now)])) {
    const was = before[key];
    const is = now[key];
    if (isDeepStrictEqual(was, is)) continue;
    out[key] = isHash(was) && isHash(is) ? previousAttributes(was, is) : (was ?? null);
  }
  return out;
}

/**
 * Emits a `*.updated` event whose `data.previous_attributes` holds what changed since `before`, and nothing when
 * nothing changed (the emulator sends no update event for an update that changes nothing). engine.emit has no argument for
 * previous attributes: they are set on the recorded event before any delivery is rendered (deliveries render the
 * event lazily, webhooks.ts), so webhooks and the Events API both carry them.
 */
export function emitUpdated(
  engine: Engine,
  scope: Scope,
  type: Stripe.Event.Type,
  object: object,
  before: Record<string, unknown>,
  cause?: EventCause,
): EventRecord | null {
  const previous = previousAttributes(before, object);
  if (Object.keys(previous).length === 0) return null;
  const rec = engine.emit(scope, type, object, cause);
  rec.event.data.previous_attributes = previous;
  return rec;
}
