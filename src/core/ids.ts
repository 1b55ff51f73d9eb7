import { randomBytes } from 'node:crypto';

const ALPHABET = '0123456789abcdefghjkmnpqrstvwxyz'; // Crockford base32, lower case

/** Random, URL-safe, prefixed identifiers: `ord_3kq…` (120 bits of randomness). */
export type IdPrefix =
  | 'sel'
  | 'lst'
  | 'slt'
  | 'hld'
  | 'ord'
  | 'pay'
  | 'ref'
  | 'dsp'
  | 'prm'
  // subscriptions (issue 13): plan, plan price, membership (Settle's subscription record), period, booking
  | 'pln'
  | 'ppr'
  | 'mem'
  | 'per'
  | 'bkg';

export function newId(prefix: IdPrefix): string {
  const bytes = randomBytes(24);
  let out = '';
  for (const b of bytes) out += ALPHABET[b & 31];
  return `${prefix}_${out}`;
}
