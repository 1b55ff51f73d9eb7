import { isDeepStrictEqual } from 'node:util';

/**
 * `data.previous_attributes` of a `*.updated` event: the old values of the top-level fields that changed, as Stripe
 * sends them. Take a `snapshot()` of the object before changing it, then `previousAttributes(snapshot, object)`.
 */
export function snapshot<T extends object>(o: T): Record<string, unknown> {
  return structuredClone(o) as Record<string, unknown>;
}

export function previousAttributes(before: Record<string, unknown>, after: object): Record<string, unknown> {
  const now = after as Record<string, unknown>;
  const out: Record<string, unknown> = {};
  for (const key of new Set([...Object.keys(before), ...Object.keys(now)]))
    if (!isDeepStrictEqual(before[key], now[key])) out[key] = before[key] ?? null;
  return out;
}
