/**
 * A Settle cluster as production runs it: N Settle processes (configured mode, `src/main.ts` as children) on one
 * fresh PostgreSQL database, behind a round-robin HTTP proxy on loopback, against the standalone Stripe emulator
 * (in this process). The emulator delivers webhooks to the proxy, so every delivery lands on whichever instance is
 * next; tests drive everything through the proxy (public API, operator API, webhook endpoints) and the emulator.
 *
 * The proxy forwards the method, path, headers and raw body unchanged and records every answer (status, instance,
 * path), so a test can assert "never a 5xx" over everything the instances answered, including the emulator's own
 * webhook deliveries. `stop()` kills the instances, closes the proxy and the emulator, and drops the database.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes, randomUUID } from 'node:crypto';
import { createWriteStream, type WriteStream } from 'node:fs';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import type Stripe from 'stripe';
import type { Db } from '../../src/db/connect.js';
import {
  startStripeEmulator,
  stripeClientFor,
  type StripeEmulator,
  type StripeEmulatorOptions,
} from '../../src/emulators/stripe/index.js';
import { registerWebhookEndpoints } from '../../src/providers/stripe/index.js';
import { freshDb, type TestDb } from '../helpers/db.js';
import { childPort } from '../helpers/ports.js';

const TSX = join(process.cwd(), 'node_modules', 'tsx', 'dist', 'cli.mjs');
const MAIN = join(process.cwd(), 'src', 'main.ts');

export interface ClusterOptions {
  /** Settle processes behind the proxy; default 3. */
  instances?: number;
  /** DATABASE_POOL_MAX of each instance; default 10. */
  poolMax?: number;
  /** SETTLE_QUEUE_POLL_MS of each instance; default 100. */
  queuePollMs?: number;
  /** Extra environment for every instance. */
  env?: Record<string, string>;
  /** Options of the standalone emulator (port is always 0). */
  emulator?: Omit<StripeEmulatorOptions, 'port'>;
  /** When set, every instance logs at `info` to `<logFile>.<index>`; otherwise LOG_LEVEL=silent. */
  logFile?: string;
}

export interface Instance {
  index: number;
  port: number;
  url: string;
  child: ChildProcess;
  /** The last few kilobytes the process wrote (stdout and stderr), for a failure message. */
  tail(): string;
}

/** One answer the proxy forwarded (or failed to). */
export interface ProxiedAnswer {
  instance: number;
  method: string;
  path: string;
  /** The upstream status, or 502 when the proxy could not reach the instance (`proxyError` set). */
  status: number;
  proxyError: boolean;
  /** The first 300 characters of a 4xx or 5xx body, to say what went wrong. */
  body: string | null;
}

export interface Answer<T> {
  status: number;
  body: T;
  headers: http.IncomingHttpHeaders;
}

export interface MarketOptions {
  chargeType: 'direct' | 'destination';
  capacity: number;
  unitAmount?: number;
  currency?: string;
  name?: string;
}

export interface Market {
  sellerId: string;
  accountId: string;
  listingId: string;
  slotId: string;
  chargeType: 'direct' | 'destination';
}

export interface Cluster {
  /** The proxy: Settle's PUBLIC_URL. */
  readonly url: string;
  readonly emulator: StripeEmulator;
  /** An SDK client on the emulator with the cluster's key (platform; pass `stripeAccount` for direct charges). */
  readonly stripe: Stripe;
  /** A small pool on the cluster's database, for checkers (counting transitions, jobs, refunds). */
  readonly db: Db;
  readonly databaseUrl: string;
  readonly adminToken: string;
  readonly secretKey: string;
  readonly webhookSecrets: { platform: string; connect: string };
  readonly instances: readonly Instance[];
  /** Every answer the proxy forwarded since the last `resetAnswers()`. */
  readonly answers: readonly ProxiedAnswer[];
  resetAnswers(): void;
  /** A request through the proxy; `body` is JSON-encoded unless it is a Buffer (sent as is). */
  request<T = Record<string, unknown>>(
    method: string,
    path: string,
    body?: unknown,
    headers?: Record<string, string>,
  ): Promise<Answer<T>>;
  /** A request with the operator token. */
  admin<T = Record<string, unknown>>(
    method: string,
    path: string,
    body?: unknown,
    headers?: Record<string, string>,
  ): Promise<Answer<T>>;
  /** An onboarded seller (direct or destination) with one listing and one slot, through the operator API. */
  market(opts: MarketOptions): Promise<Market>;
  /**
   * Waits until the emulator has no delivery pending and no side-effect job is due or running (jobs scheduled
   * for later, such as a refund's 60 s follow-up, do not count).
   */
  quiesce(timeoutMs?: number): Promise<void>;
  /** Kills the instances, closes the proxy and the emulator, drops the database. */
  stop(): Promise<void>;
}

/** The checkout session id in a hosted checkout URL (`…/c/pay/cs_…`). */
export function sessionIdOf(checkoutUrl: string): string {
  return new URL(checkoutUrl).pathname.split('/').pop() ?? '';
}

const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

/** A client agent that allows a storm's worth of sockets to the proxy (loopback). */
const clientAgent = new http.Agent({ keepAlive: true, maxSockets: 1024 });

function send(
  base: string,
  method: string,
  path: string,
  body: Buffer | null,
  headers: Record<string, string>,
): Promise<{ status: number; headers: http.IncomingHttpHeaders; text: string }> {
  return new Promise((resolve, reject) => {
    const u = new URL(path, base);
    const req = http.request(
      {
        agent: clientAgent,
        host: u.hostname,
        port: u.port,
        method,
        path: `${u.pathname}${u.search}`,
        headers: { ...headers, ...(body !== null ? { 'content-length': String(body.length) } : {}) },
      },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () =>
          resolve({
            status: res.statusCode ?? 0,
            headers: res.headers,
            text: Buffer.concat(chunks).toString('utf8'),
          }),
        );
        res.on('error', reject);
      },
    );
    req.on('error', reject);
    req.end(body ?? undefined);
  });
}

/** The round-robin proxy: forwards method, path, headers and raw body unchanged; records every answer. */
function startProxy(
  targets: () => readonly { index: number; port: number }[],
  log: ProxiedAnswer[],
): Promise<http.Server> {
  let next = 0;
  const upstream = new http.Agent({ keepAlive: true, maxSockets: 512 });
  const server = http.createServer((req, res) => {
    const list = targets();
    const target = list[next % list.length];
    next += 1;
    if (target === undefined) {
      res.writeHead(503).end();
      return;
    }
    const method = req.method ?? 'GET';
    const path = req.url ?? '/';
    const up = http.request(
      {
        agent: upstream,
        host: '127.0.0.1',
        port: target.port,
        method,
        path,
        headers: req.headers,
      },
      (upRes) => {
        const chunks: Buffer[] = [];
        upRes.on('data', (c: Buffer) => chunks.push(c));
        upRes.on('end', () => {
          const body = Buffer.concat(chunks);
          const status = upRes.statusCode ?? 0;
          log.push({
            instance: target.index,
            method,
            path,
            status,
            proxyError: false,
            body: status >= 400 ? body.toString('utf8').slice(0, 300) : null,
          });
          res.writeHead(status, upRes.headers);
          res.end(body);
        });
      },
    );
    up.on('error', (err) => {
      log.push({ instance: target.index, method, path, status: 502, proxyError: true, body: err.message });
      if (!res.headersSent) res.writeHead(502, { 'content-type': 'text/plain', 'x-proxy-error': '1' });
      res.end(`proxy: ${err.message}`);
    });
    req.pipe(up);
  });
  server.keepAliveTimeout = 30_000;
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => resolve(server));
  });
}

async function waitHealthy(inst: Instance, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    if (inst.child.exitCode !== null || inst.child.signalCode !== null)
      throw new Error(`Settle instance ${inst.index} exited while starting:\n${inst.tail()}`);
    try {
      const r = await send(inst.url, 'GET', '/healthz', null, {});
      if (r.status === 200) return;
    } catch {
      // not listening yet
    }
    if (Date.now() > deadline)
      throw new Error(`Settle instance ${inst.index} not healthy after ${timeoutMs} ms:\n${inst.tail()}`);
    await sleep(100);
  }
}

function spawnInstance(index: number, port: number, env: Record<string, string>, logFile?: string): Instance {
  const child = spawn(process.execPath, [TSX, MAIN], {
    env: { PATH: process.env['PATH'] ?? '', ...env, PORT: String(port) },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let tail = '';
  const file: WriteStream | null = logFile !== undefined ? createWriteStream(`${logFile}.${index}`) : null;
  const keep = (c: Buffer) => {
    tail = (tail + c.toString('utf8')).slice(-4000);
    file?.write(c);
  };
  child.stdout?.on('data', keep);
  child.stderr?.on('data', keep);
  // Never outlive the test process (a worker killed mid-run would otherwise leave its cluster running).
  const orphanGuard = () => child.kill('SIGKILL');
  process.once('exit', orphanGuard);
  child.once('exit', () => {
    process.off('exit', orphanGuard);
    file?.end();
  });
  return { index, port, url: `http://127.0.0.1:${port}`, child, tail: () => tail };
}

async function kill(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  const exited = new Promise<void>((r) => child.once('exit', () => r()));
  child.kill('SIGTERM');
  const timer = setTimeout(() => child.kill('SIGKILL'), 5_000);
  await exited;
  clearTimeout(timer);
}

export async function startCluster(opts: ClusterOptions = {}): Promise<Cluster> {
  const count = opts.instances ?? 3;
  const cleanups: (() => Promise<void>)[] = [];
  const runCleanups = async () => {
    for (const c of cleanups.reverse()) await c().catch(() => undefined);
  };
  try {
    const emulator = await startStripeEmulator({
      webhookRetry: { attempts: 5, baseDelayMs: 500 },
      ...opts.emulator,
      port: 0,
    });
    cleanups.push(() => emulator.close());
    const database: TestDb = await freshDb('server', { poolMax: 5 });
    cleanups.push(() => database.destroy());

    const log: ProxiedAnswer[] = [];
    const instances: Instance[] = [];
    const proxy = await startProxy(() => instances, log);
    cleanups.push(
      () =>
        new Promise<void>((r) => {
          proxy.closeAllConnections();
          proxy.close(() => r());
        }),
    );
    const proxyUrl = `http://127.0.0.1:${(proxy.address() as AddressInfo).port}`;

    const secretKey = `sk_test_cluster_${randomBytes(8).toString('hex')}`;
    const adminToken = randomBytes(32).toString('base64url');
    const stripe = stripeClientFor(emulator, secretKey);
    const secrets = await registerWebhookEndpoints(stripe, proxyUrl);
    const env: Record<string, string> = {
      HOST: '127.0.0.1',
      PUBLIC_URL: proxyUrl,
      DATABASE_URL: database.url ?? '',
      DATABASE_POOL_MAX: String(opts.poolMax ?? 10),
      STRIPE_SECRET_KEY: secretKey,
      STRIPE_API_BASE: emulator.url,
      STRIPE_WEBHOOK_SECRET: secrets.platformSecret,
      STRIPE_CONNECT_WEBHOOK_SECRET: secrets.connectSecret,
      SETTLE_ADMIN_TOKEN: adminToken,
      LOG_LEVEL: opts.logFile !== undefined ? 'info' : 'silent',
      SETTLE_RATE_LIMIT_PER_MINUTE: '0',
      SETTLE_RECONCILE_INTERVAL_SECONDS: '0',
      SETTLE_QUEUE_POLL_MS: String(opts.queuePollMs ?? 100),
      ...opts.env,
    };
    const ports = await Promise.all(Array.from({ length: count }, () => childPort()));
    cleanups.push(async () => {
      await Promise.all(instances.map((i) => kill(i.child)));
    });
    // Started together (the database is already migrated; a start's migration check takes an advisory lock).
    for (const [index, port] of ports.entries())
      instances.push(spawnInstance(index, port, env, opts.logFile));
    await Promise.all(instances.map((i) => waitHealthy(i, 90_000)));

    const request = async <T>(
      method: string,
      path: string,
      body?: unknown,
      headers: Record<string, string> = {},
    ): Promise<Answer<T>> => {
      const raw =
        body === undefined ? null : Buffer.isBuffer(body) ? body : Buffer.from(JSON.stringify(body));
      const r = await send(proxyUrl, method, path, raw, {
        ...(raw !== null && !Buffer.isBuffer(body) ? { 'content-type': 'application/json' } : {}),
        ...headers,
      });
      let parsed: unknown = {};
      if (r.text !== '') {
        try {
          parsed = JSON.parse(r.text);
        } catch {
          parsed = { text: r.text };
        }
      }
      return { status: r.status, body: parsed as T, headers: r.headers };
    };
    const admin = <T>(method: string, path: string, body?: unknown, headers: Record<string, string> = {}) =>
      request<T>(method, path, body, { authorization: `Bearer ${adminToken}`, ...headers });

    const quiesce = async (timeoutMs = 60_000): Promise<void> => {
      const deadline = Date.now() + timeoutMs;
      let quietRounds = 0;
      for (;;) {
        await emulator.idle(Math.max(1000, deadline - Date.now()));
        const busy = await database.db
          .selectFrom('jobs')
          .select((eb) => eb.fn.countAll<string>().as('n'))
          .where((eb) =>
            eb.or([
              eb('status', '=', 'running'),
              eb.and([eb('status', '=', 'queued'), eb('run_at', '<=', new Date())]),
            ]),
          )
          .executeTakeFirstOrThrow();
        const inbox = await database.db
          .selectFrom('webhook_events')
          .select((eb) => eb.fn.countAll<string>().as('n'))
          .where('status', '=', 'received')
          .executeTakeFirstOrThrow();
        if (Number(busy.n) === 0 && Number(inbox.n) === 0) {
          quietRounds += 1;
          if (quietRounds >= 2) return;
        } else quietRounds = 0;
        if (Date.now() > deadline)
          throw new Error(
            `quiesce: still busy after ${timeoutMs} ms (${busy.n} jobs due or running, ${inbox.n} events received)`,
          );
        await sleep(150);
      }
    };

    const market = async (m: MarketOptions): Promise<Market> => {
      const seller = await admin<{ id: string; accountId: string }>('POST', '/api/sellers', {
        name: m.name ?? `Cluster seller ${m.chargeType}`,
        email: 'seller@example.test',
        chargeType: m.chargeType,
        feeBps: 1000,
      });
      if (seller.status !== 201) throw new Error(`seller: ${seller.status} ${JSON.stringify(seller.body)}`);
      await emulator.completeOnboarding(seller.body.accountId);
      await emulator.idle();
      for (let i = 0; ; i++) {
        const s = await request<{ chargesEnabled: boolean }>('GET', `/api/sellers/${seller.body.id}`);
        if (s.body.chargesEnabled) break;
        if (i > 100) throw new Error('seller never became ready (account.updated not applied)');
        await sleep(50);
      }
      const listing = await admin<{ id: string }>('POST', '/api/listings', {
        sellerId: seller.body.id,
        title: 'Storm class',
        currency: m.currency ?? 'usd',
        unitAmount: m.unitAmount ?? 5000,
      });
      if (listing.status !== 201) throw new Error(`listing: ${JSON.stringify(listing.body)}`);
      const slot = await admin<{ id: string }>('POST', `/api/listings/${listing.body.id}/slots`, {
        startsAt: new Date(Date.now() + 3 * 86_400_000).toISOString(),
        capacity: m.capacity,
      });
      if (slot.status !== 201) throw new Error(`slot: ${JSON.stringify(slot.body)}`);
      return {
        sellerId: seller.body.id,
        accountId: seller.body.accountId,
        listingId: listing.body.id,
        slotId: slot.body.id,
        chargeType: m.chargeType,
      };
    };

    let stopped = false;
    return {
      url: proxyUrl,
      emulator,
      stripe,
      db: database.db,
      databaseUrl: database.url ?? '',
      adminToken,
      secretKey,
      webhookSecrets: { platform: secrets.platformSecret, connect: secrets.connectSecret },
      instances,
      get answers() {
        return log;
      },
      resetAnswers: () => {
        log.length = 0;
      },
      request,
      admin,
      market,
      quiesce,
      stop: async () => {
        if (stopped) return;
        stopped = true;
        await runCleanups();
      },
    };
  } catch (err) {
    await runCleanups();
    throw err;
  }
}

/** A fresh Idempotency-Key (a UUID v4, as Settle requires on public routes). */
export const idempotencyKey = (): string => randomUUID();
