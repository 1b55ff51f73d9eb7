import { randomBytes } from 'node:crypto';

/**
 * In-memory store helpers. An emulator keeps its objects in `Table`s (a Map by id, in insertion order) and takes
 * every timestamp from its Clock, so `advance()` moves the objects' world with it.
 */

export const BASE62 = '0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz';
export const UPPER_ALNUM = '0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ';

/** A random string over `alphabet` (e.g. Stripe's base62 suffixes, PayPal's 17 upper-case characters). */
export function randomString(length: number, alphabet = BASE62): string {
  const bytes = randomBytes(length);
  let out = '';
  for (const b of bytes) out += alphabet[b % alphabet.length];
  return out;
}

/** Objects by id, in insertion order. */
export class Table<T> extends Map<string, T> {
  /** The object, or what `onMissing` throws (the provider's 404). */
  require(id: string, onMissing: (id: string) => Error): T {
    const v = this.get(id);
    if (v === undefined) throw onMissing(id);
    return v;
  }

  /** Newest first (the order list endpoints usually answer in). */
  newestFirst(): T[] {
    return [...this.values()].reverse();
  }

  /** Oldest first. */
  all(): T[] {
    return [...this.values()];
  }
}

/** A strictly increasing sequence (event order, stable sort keys). */
export class Sequence {
  private n = 0;
  next(): number {
    return ++this.n;
  }
  get current(): number {
    return this.n;
  }
}
