/**
 * A webhook endpoint that records what a provider's emulator delivers to it (raw body and headers, answered 200 at
 * once) so the deliveries can be replayed to Settle later with the provider's own signature headers.
 */
import { createServer, type IncomingHttpHeaders } from 'node:http';
import type { AddressInfo } from 'node:net';
import { onCleanup } from '../ingest/procs.js';

export interface Recorded {
  body: string;
  headers: Record<string, string>;
}

export interface Sink {
  url: string;
  /** Every delivery received so far, oldest first. */
  readonly received: readonly Recorded[];
  close(): Promise<void>;
}

function flat(h: IncomingHttpHeaders): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [k, v] of Object.entries(h)) {
    if (v === undefined) continue;
    out[k.toLowerCase()] = Array.isArray(v) ? v.join(', ') : v;
  }
  return out;
}

export async function startSink(): Promise<Sink> {
  const received: Recorded[] = [];
  const server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      received.push({ body: Buffer.concat(chunks).toString('utf8'), headers: flat(req.headers) });
      res.writeHead(200, { 'content-type': 'application/json' }).end('{"received":true}');
    });
  });
  server.keepAliveTimeout = 30_000;
  await new Promise<void>((res) => server.listen(0, '127.0.0.1', res));
  const port = (server.address() as AddressInfo).port;
  const close = onCleanup('webhook sink', async () => {
    server.closeAllConnections();
    await new Promise<void>((res) => server.close(() => res()));
  });
  return { url: `http://127.0.0.1:${port}`, received, close };
}
