import { ambientNow } from '../kit/clock.js';
import { randomString } from '../kit/store.js';

/** Stripe-looking random id: `newId('pi')` → `pi_3Qx…` (24 base62 characters after the prefix). */
export function newId(prefix: string, length = 24): string {
  return `${prefix}_${randomString(length)}`;
}

/**
 * Epoch seconds on the emulator's clock: the engine runs every request, page, test helper and scheduled job with
 * its clock as the ambient one (kit/clock.ts `Clock.run`), so `created`, `expires_at` and friends follow
 * `POST /_emulator/clock {advanceMs}`. Outside any emulator context it is the system time.
 */
export function nowSeconds(): number {
  return Math.floor(ambientNow() / 1000);
}
