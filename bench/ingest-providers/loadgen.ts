/**
 * The load generator of the provider ingest benchmark, run in its own process: `node --import tsx
 * bench/ingest-providers/loadgen.ts job.json`. Same loops as bench/ingest/loadgen.ts (closed loop at `rate` 0, open
 * loop without coordinated omission otherwise), but each delivery carries the provider's own headers (PayPal's five
 * PAYPAL-* headers, Square's x-square-hmacsha256-signature), sent verbatim. Prints one JSON line (a LoadResult).
 */
import { readFileSync } from 'node:fs';
import http from 'node:http';
import { performance } from 'node:perf_hooks';
import type { LoadResult } from '../ingest/loadgen.js';

export interface HeaderDelivery {
  body: string;
  /** Sent as they are (lower-case names); content-length is added. */
  headers: Record<string, string>;
}

export interface HeaderLoadJob {
  url: string;
  deliveries: HeaderDelivery[];
  concurrency: number;
  rate: number;
  timeoutMs: number;
}

const job = JSON.parse(readFileSync(process.argv[2] ?? '', 'utf8')) as HeaderLoadJob;
const target = new URL(job.url);
const agent = new http.Agent({
  keepAlive: true,
  maxSockets: job.rate > 0 ? 512 : Math.max(1, job.concurrency),
});

function post(d: HeaderDelivery): Promise<number> {
  return new Promise((res) => {
    const req = http.request(
      {
        agent,
        host: target.hostname,
        port: target.port,
        path: target.pathname,
        method: 'POST',
        headers: { ...d.headers, 'content-length': Buffer.byteLength(d.body) },
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
if (job.rate > 0) {
  const inflight: Promise<void>[] = [];
  let i = 0;
  while (i < n) {
    const now = performance.now();
    while (i < n && t0 + (i * 1000) / job.rate <= now) {
      const scheduled = t0 + (i * 1000) / job.rate;
      inflight.push(post(job.deliveries[i]!).then((code) => record(code, performance.now() - scheduled)));
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
agent.destroy();
latencies.sort((a, b) => a - b);
const result: LoadResult = { sent: n, answered, status, errors, wallMs, latencies };
process.stdout.write(`${JSON.stringify(result)}\n`);
