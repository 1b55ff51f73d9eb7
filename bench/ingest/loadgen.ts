/**
 * The load generator of the ingest benchmark, run in its own process: `node --import tsx bench/ingest/loadgen.ts
 * job.json`. It POSTs pre-signed webhook deliveries and prints one JSON line with the result. A Stripe delivery carries
 * its `Stripe-Signature` (`signature`); another provider's carries its own headers, sent verbatim (`headers`: PayPal's
 * PAYPAL-* headers, Square's x-square-hmacsha256-signature; bench/ingest-providers).
 *
 * - `rate` 0: closed loop, `concurrency` requests in flight (the maximum rate).
 * - `rate` > 0: open loop, request i is sent at t0 + i / rate whatever the server's answers; its latency counts from
 *   that scheduled time, so time spent queued behind a slow server is counted (no coordinated omission).
 */
import { readFileSync } from 'node:fs';
import http from 'node:http';
import { performance } from 'node:perf_hooks';

/** A Stripe delivery (`signature`), or any provider's with its own headers (lower-case names). */
export type LoadDelivery =
  { body: string; signature: string } | { body: string; headers: Record<string, string> };

export interface LoadJob {
  url: string;
  deliveries: LoadDelivery[];
  concurrency: number;
  rate: number;
  /** Requests not answered by then are abandoned and counted as errors. */
  timeoutMs: number;
}

export interface LoadResult {
  sent: number;
  answered: number;
  status: Record<string, number>;
  errors: number;
  wallMs: number;
  /** The load generator's own CPU time (user + system) during the run, ms. */
  cpuMs: number;
  /** Latencies in ms, sorted. */
  latencies: number[];
}

const job = JSON.parse(readFileSync(process.argv[2] ?? '', 'utf8')) as LoadJob;
const target = new URL(job.url);
const agent = new http.Agent({
  keepAlive: true,
  maxSockets: job.rate > 0 ? 512 : Math.max(1, job.concurrency),
});

function post(d: LoadDelivery): Promise<number> {
  return new Promise((res) => {
    const req = http.request(
      {
        agent,
        host: target.hostname,
        port: target.port,
        path: target.pathname,
        method: 'POST',
        headers:
          'headers' in d
            ? { ...d.headers, 'content-length': Buffer.byteLength(d.body) }
            : {
                'content-type': 'application/json; charset=utf-8',
                'content-length': Buffer.byteLength(d.body),
                'stripe-signature': d.signature,
                'user-agent': 'Stripe/1.0 (+https://stripe.com/docs/webhooks)',
              },
        timeout: job.timeoutMs,
      },
      (r) => {
        r.resume();
        r.on('end', () => res(r.statusCode ?? 0));
        r.on('error', () => res(-1));
      },
    );
    req.on('timeout', () => req.destroy(new Error('timeout')));
    req.on('error', () => res(-1));
    req.end(d.body);
  });
}

const latencies: number[] = [];
const status: Record<string, number> = {};
let errors = 0;
let answered = 0;
const n = job.deliveries.length;

function record(code: number, ms: number): void {
  if (code < 0) errors++;
  else {
    answered++;
    status[String(code)] = (status[String(code)] ?? 0) + 1;
  }
  latencies.push(ms);
}

const t0 = performance.now();
const cpu0 = process.cpuUsage();
if (job.rate > 0) {
  const inflight: Promise<void>[] = [];
  let i = 0;
  while (i < n) {
    const now = performance.now();
    while (i < n && t0 + (i * 1000) / job.rate <= now) {
      const scheduled = t0 + (i * 1000) / job.rate;
      const d = job.deliveries[i]!;
      inflight.push(post(d).then((code) => record(code, performance.now() - scheduled)));
      i++;
    }
    if (i < n) {
      const wait = t0 + (i * 1000) / job.rate - performance.now();
      await new Promise((r) => setTimeout(r, Math.max(0, Math.min(wait, 5))));
    }
  }
  await Promise.all(inflight);
} else {
  let next = 0;
  await Promise.all(
    Array.from({ length: Math.min(job.concurrency, n) }, async () => {
      while (next < n) {
        const d = job.deliveries[next++]!;
        const s = performance.now();
        record(await post(d), performance.now() - s);
      }
    }),
  );
}
const wallMs = performance.now() - t0;
const cpu = process.cpuUsage(cpu0);
const cpuMs = (cpu.user + cpu.system) / 1000;
agent.destroy();
latencies.sort((a, b) => a - b);
const result: LoadResult = { sent: n, answered, status, errors, wallMs, cpuMs, latencies };
process.stdout.write(`${JSON.stringify(result)}\n`);
