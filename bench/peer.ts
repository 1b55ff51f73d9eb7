/**
 * Benchmark: Settle next to a peer, `@supabase/stripe-sync-engine`, ingesting the same signed
 * `checkout.session.completed` events into the same PostgreSQL database (issue 14). Prints both rates; asserts
 * nothing. Run: `npx tsx bench/peer.ts` (DATABASE_URL defaults to postgres://postgres@127.0.0.1:5432/postgres).
 *
 *   npx tsx bench/peer.ts --orders 1000 --slots 20 --concurrency 16 [--rounds 3] [--peer-first] [--peer-revalidate]
 *
 * See bench/peer/run.ts for what a run does and bench/peer/server.ts for how the peer is served.
 */
import { parseArgs } from 'node:util';
import { cleanupAll } from './ingest/procs.js';
import { formatPeer, runPeer } from './peer/run.js';

const { values: opt } = parseArgs({
  options: {
    orders: { type: 'string', default: '1000' },
    slots: { type: 'string', default: '20' },
    concurrency: { type: 'string', default: '16' },
    pool: { type: 'string' },
    rounds: { type: 'string', default: '1' },
    'log-level': { type: 'string', default: 'info' },
    tsx: { type: 'boolean', default: false },
    'peer-first': { type: 'boolean', default: false },
    'peer-revalidate': { type: 'boolean', default: false },
    json: { type: 'boolean', default: false },
    help: { type: 'boolean', short: 'h', default: false },
  },
});
if (opt.help) {
  process.stdout.write(`Usage: npx tsx bench/peer.ts [options]
  --orders N        distinct events (paid orders) each side ingests (1000)
  --slots S         slots the orders are spread over (20)
  --concurrency C   requests in flight, closed loop, for both sides (16)
  --pool P          each server's database pool (default C)
  --rounds R        R rounds of N new orders each, the order alternating; medians reported (1)
  --log-level L     Settle's LOG_LEVEL and the peer engine's logger level (info)
  --tsx             run Settle and the emulator through tsx even when dist/ exists
  --peer-first      the peer ingests first (default: Settle first)
  --peer-revalidate the peer re-reads each session from the emulator, as Settle does
  --json            also print the figures as one JSON line
`);
  process.exit(0);
}
const num = (s: string | undefined): number | undefined => {
  const v = Number(s);
  return s !== undefined && s !== '' && Number.isFinite(v) && v > 0 ? v : undefined;
};

try {
  const figures = await runPeer({
    orders: num(opt.orders),
    slots: num(opt.slots),
    concurrency: num(opt.concurrency),
    pool: num(opt.pool),
    rounds: num(opt.rounds),
    logLevel: opt['log-level'],
    tsx: opt.tsx,
    order: opt['peer-first'] ? 'peer-first' : 'settle-first',
    peerRevalidate: opt['peer-revalidate'],
    log: (line) => console.log(line),
  });
  console.log('');
  for (const line of formatPeer(figures)) console.log(line);
  if (opt.json) console.log(JSON.stringify({ ...figures }));
} catch (err) {
  process.exitCode = 1;
  console.error(err instanceof Error ? (err.stack ?? err.message) : String(err));
} finally {
  await cleanupAll();
}
