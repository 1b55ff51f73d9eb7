import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { FastifyInstance } from 'fastify';
import { createHttp } from '../../src/http/app.js';
import { registerWeb } from '../../src/web/routes.js';

let app: FastifyInstance;

beforeAll(async () => {
  app = createHttp({ logLevel: 'silent', https: false });
  await registerWeb(app);
  await app.ready();
});

afterAll(async () => {
  await app.close();
});

const PAGES = [
  '/',
  '/checkout/return?order=ord_x',
  '/checkout/cancel?order=ord_x',
  '/sellers/new',
  '/sellers/sel_1/onboarding-return',
  '/admin',
];

describe('web routes', () => {
  it.each(PAGES)('%s is a static shell loading only our own assets, with the CSP header', async (url) => {
    const res = await app.inject({ url });
    expect(res.statusCode).toBe(200);
    expect(res.headers['content-type']).toBe('text/html; charset=utf-8');
    expect(res.headers['content-security-policy']).toContain("script-src 'self'");
    const html = res.body;
    expect(html).toMatch(/<script type="module" src="\/assets\/app\.js\?v=[0-9a-f]{12}"><\/script>/);
    expect(html).toMatch(/<link rel="stylesheet" href="\/assets\/app\.css\?v=[0-9a-f]{12}">/);
    // No inline script or style (the CSP would block them) and no card field on Settle's pages.
    expect(html).not.toMatch(/<script(?![^>]*\bsrc=)[^>]*>/);
    expect(html).not.toMatch(/<style|\sstyle=|\son[a-z]+=/i);
    for (const input of html.match(/<input[^>]*>/g) ?? []) expect(input).not.toMatch(/card|cvc|cc-|exp/i);
  });

  it('serves the bundle built at startup with a cache header and revalidation', async () => {
    const page = await app.inject({ url: '/' });
    const v = /app\.js\?v=([0-9a-f]+)/.exec(page.body)?.[1] ?? '';
    const res = await app.inject({ url: `/assets/app.js?v=${v}` });
    expect(res.statusCode).toBe(200);
    expect(res.headers['content-type']).toBe('text/javascript; charset=utf-8');
    expect(res.headers['cache-control']).toBe('public, max-age=31536000, immutable');
    expect(res.body).toContain('/api/checkout/verify');
    expect(res.body).not.toMatch(/\bimport\s*["'{]/); // fully bundled
    const unversioned = await app.inject({ url: '/assets/app.js' });
    expect(unversioned.headers['cache-control']).toBe('public, max-age=0, must-revalidate');
    const etag = String(res.headers.etag);
    const again = await app.inject({ url: '/assets/app.js', headers: { 'if-none-match': etag } });
    expect(again.statusCode).toBe(304);
  });

  it('serves the stylesheet', async () => {
    const res = await app.inject({ url: '/assets/app.css' });
    expect(res.statusCode).toBe(200);
    expect(res.headers['content-type']).toBe('text/css; charset=utf-8');
    expect(res.body).toContain('.notice');
  });
});

describe('the footer says where payments go', () => {
  it.each([
    ['emulator', 'local Stripe emulator'],
    ['test', 'Stripe test mode'],
    ['live', 'Payments are processed by Stripe.'],
  ] as const)('%s mode', async (mode, text) => {
    const a = createHttp({ logLevel: 'silent', https: false });
    await registerWeb(a, { mode });
    const res = await a.inject({ url: '/' });
    expect(res.body).toContain(text);
    if (mode === 'live') expect(res.body).not.toContain('emulator');
    await a.close();
  });
});
