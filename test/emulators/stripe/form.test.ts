import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { parseForm } from '../../../src/emulators/stripe/form.js';

/** Bracket-notation encoder in the style the Stripe SDK uses. */
function encode(value: unknown, prefix = ''): string[] {
  if (typeof value === 'string') return [`${encodeURIComponent(prefix)}=${encodeURIComponent(value)}`];
  if (Array.isArray(value)) return value.flatMap((v, i) => encode(v, `${prefix}[${i}]`));
  return Object.entries(value as Record<string, unknown>).flatMap(([k, v]) =>
    encode(v, prefix ? `${prefix}[${k}]` : k),
  );
}

describe('bracket-notation form parser', () => {
  it('decodes nested objects, arrays and push syntax', () => {
    const raw =
      'mode=payment&line_items[0][price_data][unit_amount]=1000&line_items[0][quantity]=2&line_items[1][quantity]=1' +
      '&expand[]=a&expand[]=b&metadata[k+1]=v%26w&payment_intent_data[transfer_data][destination]=acct_1';
    expect(parseForm(raw)).toEqual({
      mode: 'payment',
      line_items: [{ price_data: { unit_amount: '1000' }, quantity: '2' }, { quantity: '1' }],
      expand: ['a', 'b'],
      metadata: { 'k 1': 'v&w' },
      payment_intent_data: { transfer_data: { destination: 'acct_1' } },
    });
  });

  it('ignores prototype-polluting keys', () => {
    const out = parseForm('__proto__[x]=1&a[constructor][y]=2');
    expect(({} as Record<string, unknown>).x).toBeUndefined();
    expect(out).not.toHaveProperty('x');
  });

  it('round-trips arbitrary nested params', () => {
    const key = fc
      .stringMatching(/^[a-z_]{1,8}$/)
      .filter((k) => !['__proto__', 'constructor', 'prototype'].includes(k));
    const leaf = fc.string({ maxLength: 12 });
    const tree = fc.letrec((tie) => ({
      node: fc.oneof(
        { depthSize: 'small' },
        leaf,
        fc.array(tie('node'), { minLength: 1, maxLength: 3 }),
        fc.dictionary(key, tie('node'), { minKeys: 1, maxKeys: 3 }),
      ),
    })).node;
    fc.assert(
      fc.property(fc.dictionary(key, tree, { minKeys: 1, maxKeys: 4 }), (params) => {
        expect(parseForm(encode(params).join('&'))).toEqual(params);
      }),
      { numRuns: 200 },
    );
  });
});
