/**
 * One environment of the scale benchmark: a fresh database (random name, dropped at exit), the standalone Stripe
 * emulator and a Settle server on that database (Settle migrates it at start), configured as in bench/ingest.ts,
 * plus a client on the database and the closed-loop load generator (bench/ingest/loadgen.ts, its own process).
 */
import { randomBytes } from 'node:crypto';
import { join } from 'node:path';
import pg from 'pg';
import type { LoadJob, LoadResult } from '../ingest/loadgen.js';
import { createListings, createSlots, paidOrders, type Delivery, type Endpoints } from '../ingest/market.js';
import {
  benchEndpoints,
  freePort,
  nodeArgs,
  onCleanup,
  runLoadgen,
  settleServerEnv,
  startProc,
  startStripeEmulatorProc,
  waitReady,
  type Proc,
} from '../ingest/procs.js';

export interface EnvOptions {
  /** Label in names and logs ("empty", "seeded"). */
  label: string;
  adminPg: pg.Client;
  /** Server URL (any database on it); the environment's database replaces the path. */
  baseUrl: string;
  /** Directory for logs and load-generator files. */
  dir: string;
  pool: number;
  logLevel: string;
  /** Run Settle and the emulator through tsx even when dist/ exists. */
  tsx: boolean;
}

export interface Env {
  label: string;
  dbName: string;
  dbUrl: string;
  /** A client on the environment's database. */
  db: pg.Client;
  e: Endpoints;
  webhookSecret: string;
  settle: Proc;
  emu: Proc;
  compiled: boolean;
  /** Stops Settle and the emulator now (the database stays until exit). */
  stop(): Promise<void>;
}

export async function startEnv(o: EnvOptions): Promise<Env> {
  const dbName = `settle_scale_${o.label}_${randomBytes(4).toString('hex')}`;
  await o.adminPg.query(`CREATE DATABASE ${dbName}`);
  onCleanup(`database ${dbName}`, async () => {
    await o.adminPg.query(`DROP DATABASE IF EXISTS ${dbName} WITH (FORCE)`);
  });
  const u = new URL(o.baseUrl);
  u.pathname = `/${dbName}`;
  const dbUrl = u.toString();

  const settleArgs = nodeArgs('src/main.ts', !o.tsx);
  const { proc: emu, url: emulatorUrl } = await startStripeEmulatorProc({
    dir: o.dir,
    tsx: o.tsx === true,
    label: `${o.label}-emulator`,
  });
  const webhookSecret = `whsec_${randomBytes(24).toString('base64url')}`;
  const e: Endpoints = benchEndpoints(emulatorUrl);
  const settlePort = await freePort();
  const settleLog = join(o.dir, `${o.label}-settle.log`);
  const settle = startProc(
    `settle (${o.label})`,
    settleArgs.args,
    settleServerEnv({
      port: settlePort,
      logLevel: o.logLevel,
      database: { DATABASE_URL: dbUrl, DATABASE_POOL_MAX: String(o.pool) },
      stripeKey: e.stripeKey,
      stripeApiBase: emulatorUrl,
      webhookSecret,
      adminToken: e.adminToken,
    }),
    settleLog,
  );
  e.settle = `http://127.0.0.1:${settlePort}`;
  await waitReady(settle, `${e.settle}/healthz`, settleLog);
  const db = new pg.Client({ connectionString: dbUrl });
  await db.connect();
  onCleanup(`db connection ${dbName}`, () => db.end());
  return {
    label: o.label,
    dbName,
    dbUrl,
    db,
    e,
    webhookSecret,
    settle,
    emu,
    compiled: settleArgs.compiled,
    stop: async () => {
      await settle.stop();
      await emu.stop();
    },
  };
}

/** The measured market: 4 sellers with a listing each and `slots` slots of `capacity` places. */
export async function createMarket(env: Env, slots: number, capacity: number): Promise<string[]> {
  const listings = await createListings(env.e, 4);
  return createSlots(env.e, listings, slots, capacity);
}

export { paidOrders };

/** Runs the load generator (its own process) on `deliveries` to /webhooks/stripe, closed loop. */
export async function loadgen(
  env: Env,
  dir: string,
  deliveries: readonly Delivery[],
  concurrency: number,
): Promise<LoadResult> {
  const job: LoadJob = {
    url: `${env.e.settle}/webhooks/stripe`,
    deliveries: [...deliveries],
    concurrency,
    rate: 0,
    timeoutMs: 60_000,
  };
  return runLoadgen(dir, job);
}
