import { createHash } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { buildClientBundle } from './bundle.js';
import {
  adminHtml,
  cancelHtml,
  marketplaceHtml,
  onboardingReturnHtml,
  returnHtml,
  sellerNewHtml,
  subscriptionManageHtml,
  subscriptionReturnHtml,
  type AssetVersions,
  type PaymentsMode,
} from './pages.js';

const CSS_PATH = new URL('./assets/app.css', import.meta.url);

/** Versioned asset URLs are immutable; an unversioned or stale URL is revalidated. */
const IMMUTABLE = 'public, max-age=31536000, immutable';
const REVALIDATE = 'public, max-age=0, must-revalidate';

function sendAsset(
  req: FastifyRequest<{ Querystring: { v?: string } }>,
  reply: FastifyReply,
  body: string,
  hash: string,
  contentType: string,
): FastifyReply {
  const etag = `"${hash}"`;
  reply
    .header('content-type', contentType)
    .header('cache-control', req.query.v === hash ? IMMUTABLE : REVALIDATE)
    .header('etag', etag);
  if (req.headers['if-none-match'] === etag) return reply.status(304).send();
  return reply.send(body);
}

/**
 * Registers the demo marketplace: HTML shells for each page and the two assets. The browser bundle is built
 * once here with esbuild (in memory) so `npm start` needs no build step; a build error fails startup loudly.
 */
export async function registerWeb(app: FastifyInstance, opts: { mode?: PaymentsMode } = {}): Promise<void> {
  const [bundle, css] = await Promise.all([buildClientBundle(), readFile(CSS_PATH, 'utf8')]);
  const cssHash = createHash('sha256').update(css).digest('hex').slice(0, 12);
  const v: AssetVersions = { js: bundle.hash, css: cssHash, mode: opts.mode ?? 'emulator' };

  const pages: ReadonlyArray<[string, string]> = [
    ['/', marketplaceHtml(v)],
    ['/checkout/return', returnHtml(v)],
    ['/checkout/cancel', cancelHtml(v)],
    ['/subscriptions/return', subscriptionReturnHtml(v)],
    ['/subscriptions/manage', subscriptionManageHtml(v)],
    ['/sellers/new', sellerNewHtml(v)],
    ['/sellers/:id/onboarding-return', onboardingReturnHtml(v)],
    ['/admin', adminHtml(v)],
  ];
  for (const [path, html] of pages) {
    app.get(path, async (_req, reply) =>
      reply.header('content-type', 'text/html; charset=utf-8').header('cache-control', 'no-cache').send(html),
    );
  }

  app.get<{ Querystring: { v?: string } }>('/assets/app.js', async (req, reply) =>
    sendAsset(req, reply, bundle.code, bundle.hash, 'text/javascript; charset=utf-8'),
  );
  app.get<{ Querystring: { v?: string } }>('/assets/app.css', async (req, reply) =>
    sendAsset(req, reply, css, cssHash, 'text/css; charset=utf-8'),
  );
}
