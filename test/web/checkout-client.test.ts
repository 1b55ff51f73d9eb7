import { afterEach, describe, expect, it } from 'vitest';
import {
  backoffDelay,
  CheckoutError,
  confirmOnReturn,
  forgetCheckoutIntents,
  startCheckout,
  type ConfirmState,
  type FetchLike,
} from '../../src/web/client/checkout.js';
import { formatMinor, minorToDecimal, parseDecimalToMinor } from '../../src/web/client/money.js';

interface Call {
  url: string;
  key: string | null;
  body: unknown;
}

function json(status: number, body: unknown, headers: Record<string, string> = {}): Response {
  return new Response(JSON.stringify(body), {
    status,
    headers: { 'content-type': 'application/json', ...headers },
  });
}

/** A fake fetch answering from a script; records every call with its Idempotency-Key. */
function fakeFetch(answer: (call: Call, n: number) => Response | Promise<Response>): {
  fetch: FetchLike;
  calls: Call[];
} {
  const calls: Call[] = [];
  const fetch: FetchLike = async (url, init) => {
    const headers = new Headers(init?.headers);
    const call = { url, key: headers.get('idempotency-key'), body: JSON.parse(String(init?.body ?? 'null')) };
    calls.push(call);
    return answer(call, calls.length);
  };
  return { fetch, calls };
}

const noSleep = async (): Promise<void> => undefined;
let keys = 0;
const newKey = (): string => `key-${++keys}`;

afterEach(() => forgetCheckoutIntents());

describe('startCheckout', () => {
  it('sends the chosen provider; the same slot through another provider is another intent with its own key', async () => {
    let n = 0;
    const { fetch, calls } = fakeFetch(() =>
      json(201, { orderId: `ord_${++n}`, checkoutUrl: `https://pay.example/c/${n}`, status: 'pending' }),
    );
    const viaPayPal = await startCheckout(
      { slotId: 'slt_1', quantity: 1, provider: 'paypal' },
      { fetch, newKey },
    );
    const viaDefault = await startCheckout({ slotId: 'slt_1', quantity: 1 }, { fetch, newKey });
    expect(calls.map((c) => c.body)).toEqual([
      { slotId: 'slt_1', quantity: 1, provider: 'paypal' },
      { slotId: 'slt_1', quantity: 1 },
    ]);
    expect(calls[0]?.key).not.toBe(calls[1]?.key);
    expect(viaPayPal.orderId).not.toBe(viaDefault.orderId);
  });

  it('double start of the same intent sends one request with one key and returns the same order', async () => {
    let release: () => void = () => undefined;
    const gate = new Promise<void>((r) => (release = r));
    const { fetch, calls } = fakeFetch(async () => {
      await gate;
      return json(201, { orderId: 'ord_1', checkoutUrl: 'https://pay.example/c/1', status: 'pending' });
    });
    const a = startCheckout({ slotId: 'slt_1', quantity: 2 }, { fetch, newKey });
    const b = startCheckout({ slotId: 'slt_1', quantity: 2 }, { fetch, newKey });
    release();
    const [ra, rb] = await Promise.all([a, b]);
    expect(ra).toEqual(rb);
    expect(ra.orderId).toBe('ord_1');
    expect(calls).toHaveLength(1);
    expect(calls[0]?.url).toBe('/api/checkout');
    expect(calls[0]?.body).toEqual({ slotId: 'slt_1', quantity: 2 });
  });

  it('re-sending the same intent after an answer reuses the key; a different intent gets a new one', async () => {
    const { fetch, calls } = fakeFetch(() => json(201, { orderId: 'ord_1', checkoutUrl: 'u' }));
    await startCheckout({ slotId: 'slt_1', quantity: 1, promotionCode: ' tenoff ' }, { fetch, newKey });
    await startCheckout({ slotId: 'slt_1', quantity: 1, promotionCode: 'TENOFF' }, { fetch, newKey });
    await startCheckout({ slotId: 'slt_1', quantity: 3 }, { fetch, newKey });
    expect(calls).toHaveLength(3);
    expect(calls[0]?.key).toBe(calls[1]?.key);
    expect(calls[2]?.key).not.toBe(calls[0]?.key);
    expect(calls[0]?.body).toEqual({ slotId: 'slt_1', quantity: 1, promotionCode: 'TENOFF' });
  });

  it('retries network errors and 503 with the same key', async () => {
    const { fetch, calls } = fakeFetch((_c, n) => {
      if (n === 1) throw new TypeError('Failed to fetch');
      if (n === 2)
        return json(
          503,
          { error: { code: 'provider_unavailable', message: 'down' } },
          { 'retry-after': '1' },
        );
      return json(201, { orderId: 'ord_9', checkoutUrl: 'u' });
    });
    const sleeps: number[] = [];
    const res = await startCheckout(
      { slotId: 'slt_1', quantity: 1 },
      { fetch, newKey, sleep: async (ms) => void sleeps.push(ms) },
    );
    expect(res.orderId).toBe('ord_9');
    expect(calls.map((c) => c.key)).toEqual([calls[0]?.key, calls[0]?.key, calls[0]?.key]);
    expect(sleeps).toEqual([400, 1000]);
  });

  it('throws a typed error with the API code and drops the key after a definitive refusal', async () => {
    const { fetch, calls } = fakeFetch((_c, n) =>
      n === 1
        ? json(409, {
            error: { code: 'slot_unavailable', message: 'Only 1 place(s) left.', details: { available: 1 } },
          })
        : json(201, { orderId: 'ord_2', checkoutUrl: 'u' }),
    );
    const err = await startCheckout({ slotId: 'slt_1', quantity: 2 }, { fetch, newKey }).catch(
      (e: unknown) => e,
    );
    expect(err).toBeInstanceOf(CheckoutError);
    expect(err).toMatchObject({ code: 'slot_unavailable', status: 409, details: { available: 1 } });
    await startCheckout({ slotId: 'slt_1', quantity: 2 }, { fetch, newKey });
    expect(calls[1]?.key).not.toBe(calls[0]?.key);
  });

  it('rejects a bad quantity without calling the server', async () => {
    const { fetch, calls } = fakeFetch(() => json(201, {}));
    await expect(startCheckout({ slotId: 's', quantity: 0 }, { fetch })).rejects.toMatchObject({
      code: 'validation_failed',
    });
    expect(calls).toHaveLength(0);
  });
});

describe('confirmOnReturn', () => {
  it('backoff is exponential, fully jittered and bounded by maxDelayMs', () => {
    const top = (a: number): number => backoffDelay(a, 500, 8000, () => 0.999999);
    expect([0, 1, 2, 3, 4, 5, 6, 20, 100].map(top)).toEqual([
      499, 999, 1999, 3999, 7999, 7999, 7999, 7999, 7999,
    ]);
    expect(backoffDelay(3, 500, 8000, () => 0)).toBe(0);
    for (let a = 0; a < 50; a++) {
      const d = backoffDelay(a, 500, 8000, Math.random);
      expect(d).toBeGreaterThanOrEqual(0);
      expect(d).toBeLessThan(8000);
    }
  });

  it('polls while pending and stops on the first terminal status', async () => {
    const answers = ['pending', 'pending', 'paid'];
    const { fetch, calls } = fakeFetch((_c, n) =>
      json(200, { orderId: 'ord_1', status: answers[n - 1] ?? 'paid' }),
    );
    const states: ConfirmState[] = [];
    const sleeps: number[] = [];
    const out = await confirmOnReturn('ord_1', {
      fetch,
      random: () => 0.5,
      baseDelayMs: 100,
      maxDelayMs: 1000,
      sleep: async (ms) => void sleeps.push(ms),
      onState: (s) => states.push(s),
    });
    expect(out).toEqual({ status: 'paid', final: true, attempts: 3 });
    expect(calls).toHaveLength(3);
    expect(calls[0]).toMatchObject({ url: '/api/checkout/verify', body: { orderId: 'ord_1' } });
    expect(states).toEqual(['confirming', 'pending', 'pending', 'paid']);
    expect(sleeps).toEqual([50, 100]);
  });

  it.each(['paid', 'paid_oversold', 'needs_review', 'failed', 'expired', 'canceled', 'refunded'])(
    'stops immediately on terminal %s',
    async (status) => {
      const { fetch, calls } = fakeFetch(() => json(200, { orderId: 'o', status }));
      const out = await confirmOnReturn('o', { fetch, sleep: noSleep });
      expect(out).toEqual({ status, final: true, attempts: 1 });
      expect(calls).toHaveLength(1);
    },
  );

  it('keeps processing as a distinct, non-error outcome when attempts run out', async () => {
    const { fetch, calls } = fakeFetch(() => json(200, { orderId: 'o', status: 'processing' }));
    const states: ConfirmState[] = [];
    const out = await confirmOnReturn('o', {
      fetch,
      sleep: noSleep,
      maxAttempts: 4,
      onState: (s) => states.push(s),
    });
    expect(out).toEqual({ status: 'processing', final: false, attempts: 4 });
    expect(calls).toHaveLength(4);
    expect(states.filter((s) => s === 'processing')).toHaveLength(4);
  });

  it('survives transient errors (network, 5xx, 503 Retry-After capped) and bounds the total number of calls', async () => {
    const { fetch, calls } = fakeFetch((_c, n) => {
      if (n === 1) throw new TypeError('offline');
      if (n === 2) return json(500, { error: { code: 'internal_error', message: 'x', requestId: 'r' } });
      if (n === 3)
        return json(503, { error: { code: 'provider_unavailable', message: 'y' } }, { 'retry-after': '60' });
      return json(200, { orderId: 'o', status: 'paid' });
    });
    const sleeps: number[] = [];
    const infos: Array<{ state: ConfirmState; code: string | undefined }> = [];
    const out = await confirmOnReturn('o', {
      fetch,
      random: () => 0,
      maxDelayMs: 2000,
      sleep: async (ms) => void sleeps.push(ms),
      onState: (state, info) => infos.push({ state, code: info.error?.code }),
    });
    expect(out.status).toBe('paid');
    expect(calls).toHaveLength(4);
    expect(sleeps).toEqual([0, 0, 2000]);
    expect(infos).toEqual([
      { state: 'confirming', code: undefined },
      { state: 'confirming', code: 'network_error' },
      { state: 'confirming', code: 'internal_error' },
      { state: 'confirming', code: 'provider_unavailable' },
      { state: 'paid', code: undefined },
    ]);
  });

  it('gives up after maxAttempts with final=false and never exceeds them', async () => {
    const { fetch, calls } = fakeFetch(() => json(200, { orderId: 'o', status: 'pending' }));
    const sleeps: number[] = [];
    const out = await confirmOnReturn('o', {
      fetch,
      maxAttempts: 6,
      baseDelayMs: 500,
      maxDelayMs: 3000,
      random: () => 0.999999,
      sleep: async (ms) => void sleeps.push(ms),
    });
    expect(out).toEqual({ status: 'pending', final: false, attempts: 6 });
    expect(calls).toHaveLength(6);
    expect(sleeps).toEqual([499, 999, 1999, 2999, 2999]);
  });

  it('rejects on a non-retryable API error such as not_found', async () => {
    const { fetch, calls } = fakeFetch(() =>
      json(404, { error: { code: 'not_found', message: 'No such order' } }),
    );
    await expect(confirmOnReturn('ord_x', { fetch, sleep: noSleep })).rejects.toMatchObject({
      code: 'not_found',
      status: 404,
    });
    expect(calls).toHaveLength(1);
  });
});

describe('money formatting without floats', () => {
  it('uses the currency exponent', () => {
    expect(formatMinor(2000, 'usd')).toBe('$20.00');
    expect(formatMinor(2000, 'JPY')).toBe('¥2,000');
    expect(formatMinor(1500, 'kwd')).toBe('KWD 1.500');
    expect(formatMinor(5, 'kwd')).toBe('KWD 0.005');
    expect(formatMinor(0, 'usd')).toBe('$0.00');
    expect(formatMinor(123456789, 'eur')).toBe('€1,234,567.89');
    expect(minorToDecimal(-7, 'usd')).toBe('-0.07');
    expect(formatMinor(-250, 'usd')).toBe('−$2.50');
  });

  it('parses operator input into minor units', () => {
    expect(parseDecimalToMinor('12.5', 'usd')).toBe(1250);
    expect(parseDecimalToMinor('1,200', 'jpy')).toBe(1200);
    expect(parseDecimalToMinor('0.005', 'kwd')).toBe(5);
    expect(parseDecimalToMinor('0.1', 'jpy')).toBeNull();
    expect(parseDecimalToMinor('1.001', 'usd')).toBeNull();
    expect(parseDecimalToMinor('abc', 'usd')).toBeNull();
    expect(parseDecimalToMinor('0', 'usd')).toBeNull();
  });
});

describe('client and server agree on order statuses', () => {
  it('the embeddable client stops on exactly the server’s terminal statuses', async () => {
    const { TERMINAL } = await import('../../src/core/order-status.js');
    const { TERMINAL_STATUSES } = await import('../../src/web/client/checkout.js');
    expect([...TERMINAL_STATUSES].sort()).toEqual([...TERMINAL].sort());
  });
});
