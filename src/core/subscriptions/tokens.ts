import { createHash, randomBytes, timingSafeEqual } from 'node:crypto';
import type { Subscription } from '../../db/schema.js';
import { SettleError } from '../errors.js';

/**
 * The buyer's manage token: 32 random bytes, handed to the buyer's browser when the checkout starts and written into
 * the welcome mail's links. Settle keeps only its SHA-256, so a database reader cannot act for a member, and a
 * subscription id alone authorizes nothing.
 */
export function newManageToken(): { token: string; hash: string } {
  const token = randomBytes(32).toString('base64url');
  return { token, hash: hashManageToken(token) };
}

export function hashManageToken(token: string): string {
  return createHash('sha256').update(token, 'utf8').digest('hex');
}

/** Throws subscription_token_invalid unless `token` is the subscription's (constant-time comparison). */
export function checkManageToken(
  sub: Pick<Subscription, 'manage_token_hash'>,
  token: string | null | undefined,
): void {
  const given = Buffer.from(hashManageToken(token ?? ''), 'hex');
  const expected = Buffer.from(sub.manage_token_hash, 'hex');
  if (token === null || token === undefined || token === '' || !timingSafeEqual(given, expected))
    throw new SettleError(
      'subscription_token_invalid',
      'This action needs the manage token from your membership links (the return page or the welcome mail).',
    );
}
