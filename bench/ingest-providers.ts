/**
 * Benchmark: webhook ingest end to end for PayPal and Square (issue 14), next to bench/ingest.ts (Stripe). Prints
 * figures; asserts nothing. Run: `npx tsx bench/ingest-providers.ts` (DATABASE_URL defaults to
 * postgres://postgres@127.0.0.1:5432/postgres).
 *
 *   npx tsx bench/ingest-providers.ts --providers paypal,square --orders 500 --slots 20 --concurrency 16
 *
 * Per provider (bench/ingest-providers/run.ts): a fresh database, the provider's standalone emulator, the Stripe
 * emulator (sellers are created at Settle's first provider) and a configured Settle server in their own processes;
 * orders paid at the emulator, their confirming events (PayPal CHECKOUT.ORDER.APPROVED, Square payment.updated)
 * signed as the provider signs them and POSTed by the load generator (own process): closed loop at C in flight, an
 * open loop at 50 % of that rate, and a duplicate storm.
 */
import { cpus, totalmem } from 'node:os';
import { pathToFileURL } from 'node:url';
import { parseArgs } from 'node:util';
import pg from 'pg';
import { runBenchMain } from './ingest/procs.js';
import type { ProviderName } from './ingest-providers/driver.js';
import { providerTable, runProviderIngest, type ProviderFigures } from './ingest-providers/run.js';

export { runProviderIngest } from './ingest-providers/run.js';
export type { ProviderFigures, ProviderIngestOptions } from './ingest-providers/run.js';

const run = process.argv[1] !== undefined && import.meta.url === pathToFileURL(process.argv[1]).href;

const { values: opt } = parseArgs({
  args: run ? process.argv.slice(2) : [],
  options: {
    providers: { type: 'string', default: 'paypal,square' },
    orders: { type: 'string', default: '500' },
    slots: { type: 'string', default: '20' },
    concurrency: { type: 'string', default: '16' },
    pool: { type: 'string' },
    storm: { type: 'string', default: '200' },
    'open-pct': { type: 'string', default: '50' },
    'log-level': { type: 'string', default: 'info' },
    tsx: { type: 'boolean', default: false },
    help: { type: 'boolean', short: 'h', default: false },
  },
});

if (run && opt.help) {
  process.stdout.write(`Usage: npx tsx bench/ingest-providers.ts [options]
  --providers a,b    paypal, square or both (paypal,square)
  --orders N         deliveries for distinct orders in the maximum-rate run (500)
  --slots S          slots the orders are spread over (20)
  --concurrency C    requests in flight in the closed loop (16)
  --pool P           Settle's DATABASE_POOL_MAX (default C)
  --storm K          copies of one event sent at once (200; 0 to skip)
  --open-pct R       open-loop rate in % of the measured maximum (50; 0 to skip)
  --log-level L      Settle's LOG_LEVEL (info, as in production)
  --tsx              run Settle and the emulators through tsx even when dist/ exists
`);
  process.exit(0);
}

const num = (s: string | undefined, d: number): number => {
  const v = Number(s);
  return s !== undefined && s !== '' && Number.isFinite(v) && v >= 0 ? v : d;
};

async function main(): Promise<void> {
  const providers = (opt.providers ?? '')
    .split(',')
    .map((p) => p.trim())
    .filter((p) => p !== '');
  for (const p of providers)
    if (p !== 'paypal' && p !== 'square') throw new Error(`unknown provider ${p} (paypal, square)`);
  const databaseUrl = process.env['DATABASE_URL'] ?? 'postgres://postgres@127.0.0.1:5432/postgres';
  const adminPg = new pg.Client({ connectionString: databaseUrl });
  await adminPg.connect();
  const pgVersion = (await adminPg.query<{ v: string }>('select version() as v')).rows[0]?.v ?? '?';
  await adminPg.end();
  console.log(`Settle provider ingest benchmark — ${new Date().toISOString()}`);
  console.log(
    `machine: ${cpus().length} cores (${cpus()[0]?.model ?? '?'}), ${(totalmem() / 2 ** 30).toFixed(0)} GiB, node ${process.version}`,
  );
  console.log(`postgres: ${pgVersion.split(' on ')[0] ?? pgVersion}\n`);

  const results: ProviderFigures[] = [];
  for (const p of providers as ProviderName[]) {
    const f = await runProviderIngest({
      provider: p,
      orders: Math.max(1, num(opt.orders, 500)),
      slots: Math.max(1, num(opt.slots, 20)),
      concurrency: Math.max(1, num(opt.concurrency, 16)),
      ...(opt.pool !== undefined ? { poolMax: Math.max(1, num(opt.pool, 16)) } : {}),
      storm: num(opt.storm, 200),
      openLoopPct: num(opt['open-pct'], 50),
      logLevel: opt['log-level'] ?? 'info',
      tsx: opt.tsx ?? false,
      databaseUrl,
      print: (line) => console.log(`  · ${line}`),
    });
    results.push(f);
    console.log('');
    for (const line of providerTable(f)) console.log(line);
    console.log('');
  }
}

/** The CLI: machine, then one table per provider. */
export async function cliMain(): Promise<void> {
  await runBenchMain(main);
}

if (run) await cliMain();
