/**
 * The peer of the ingest benchmark behind HTTP: `@supabase/stripe-sync-engine` (StripeSync.processWebhook) in its own
 * process, as a deployment of it would run. Started by bench/peer/run.ts: `node --import tsx bench/peer/server.ts`.
 *
 * Environment: PORT, DATABASE_URL (its tables are in the `stripe` schema, migrated beforehand), PEER_POOL_MAX,
 * STRIPE_SECRET_KEY, STRIPE_WEBHOOK_SECRET, STRIPE_API_BASE (the emulator), PEER_REVALIDATE (optional, comma-separated
 * object types the engine re-reads from the API instead of using the event's copy, e.g. `checkout.session`), LOG_LEVEL
 * (the engine's pino logger, info). This server itself logs no request lines.
 *
 * - POST (any path): the raw body and the `stripe-signature` header go to processWebhook(); 200 `{"received":true}`
 *   when it resolves, 400 on a signature error, 500 on anything else (the first errors are logged).
 * - GET /healthz: 200. GET /stats: the Stripe API requests the engine made, by method and path shape, and the
 *   webhook outcomes so far.
 *
 * The engine builds its own `new Stripe(key, { apiVersion, appInfo })` with no host or port option, so it would call
 * api.stripe.com. Its `stripe` field is public: it is replaced here by a client with the same appInfo pointed at
 * the emulator (host/port/protocol, as Settle's createStripeClient does), with telemetry off as Settle has it.
 */
import http from 'node:http';
import { StripeSync, type RevalidateEntity } from '@supabase/stripe-sync-engine';
import pino from 'pino';
import Stripe from 'stripe';
import { apiBaseOptions } from '../../src/providers/stripe/client.js';

const env = (name: string): string => {
  const v = process.env[name];
  if (v === undefined || v === '') throw new Error(`peer server: ${name} is not set`);
  return v;
};

const port = Number(env('PORT'));
const secretKey = env('STRIPE_SECRET_KEY');
const sync = new StripeSync({
  poolConfig: { connectionString: env('DATABASE_URL'), max: Number(process.env['PEER_POOL_MAX'] ?? '10') },
  schema: 'stripe',
  stripeSecretKey: secretKey,
  stripeWebhookSecret: env('STRIPE_WEBHOOK_SECRET'),
  // The engine logs one info line per event ("Received webhook …"), to stdout as Settle's pino does.
  logger: pino({ level: process.env['LOG_LEVEL'] ?? 'info' }),
  // `checkout.session` is not in the 0.48.5 RevalidateEntity type, but shouldRefetchEntity() compares the event
  // object's `object` field with this list, so it makes the engine re-read the session.
  revalidateObjectsViaStripeApi: (process.env['PEER_REVALIDATE'] ?? '')
    .split(',')
    .filter((x) => x !== '') as RevalidateEntity[],
});
sync.stripe = new Stripe(secretKey, {
  ...apiBaseOptions(env('STRIPE_API_BASE')),
  appInfo: { name: 'Stripe Postgres Sync' },
  telemetry: false,
});

/** Stripe API requests by `METHOD /v1/path` with ids replaced by `:id`, and by status. */
const apiCalls: Record<string, number> = {};
sync.stripe.on('response', (r: Stripe.ResponseEvent) => {
  const path = r.path.split('?')[0]?.replace(/\/(?:[a-z]+_)+[A-Za-z0-9]{8,}/g, '/:id') ?? r.path;
  const key = `${r.method} ${path} ${r.status}`;
  apiCalls[key] = (apiCalls[key] ?? 0) + 1;
});
const outcomes: Record<string, number> = {};
let logged = 0;

function answer(res: http.ServerResponse, status: number, body: unknown): void {
  const text = JSON.stringify(body);
  res.writeHead(status, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(text) });
  res.end(text);
}

const server = http.createServer((req, res) => {
  if (req.method === 'GET') {
    if (req.url === '/healthz') return answer(res, 200, { ok: true });
    if (req.url === '/stats') return answer(res, 200, { apiCalls, outcomes });
    return answer(res, 404, { error: 'not found' });
  }
  if (req.method !== 'POST') return answer(res, 405, { error: 'method not allowed' });
  const chunks: Buffer[] = [];
  req.on('data', (c: Buffer) => chunks.push(c));
  req.on('end', () => {
    const sig = req.headers['stripe-signature'];
    sync.processWebhook(Buffer.concat(chunks), typeof sig === 'string' ? sig : undefined).then(
      () => {
        outcomes['200'] = (outcomes['200'] ?? 0) + 1;
        answer(res, 200, { received: true });
      },
      (err: unknown) => {
        const status = err instanceof Stripe.errors.StripeSignatureVerificationError ? 400 : 500;
        outcomes[String(status)] = (outcomes[String(status)] ?? 0) + 1;
        if (logged++ < 10)
          process.stderr.write(
            `peer: ${status} ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`,
          );
        answer(res, status, { error: err instanceof Error ? err.message : String(err) });
      },
    );
  });
});
server.keepAliveTimeout = 65_000;
server.listen(port, '127.0.0.1', () => process.stdout.write(`peer listening on 127.0.0.1:${port}\n`));

const shutdown = (): void => {
  server.close();
  server.closeAllConnections();
  void sync.close().finally(() => process.exit(0));
};
process.on('SIGTERM', shutdown);
process.on('SIGINT', shutdown);
