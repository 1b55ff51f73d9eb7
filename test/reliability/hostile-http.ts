/**
 * Helpers of the hostile-input tests (fuzz, authz, log scan): raw HTTP requests (any bytes, any content type,
 * repeated headers), the route table parsed from Fastify's printRoutes(), a digest of every table (to prove an
 * input wrote nothing), and a harness started with a caller-supplied logger.
 */
import { request as httpRequest } from 'node:http';
import { sql } from 'kysely';
import type { SettleInstance } from '../../src/app/create.js';
import type { Db } from '../../src/db/connect.js';
import type { Logger } from '../../src/log/logger.js';
import type { Backend } from '../helpers/db.js';
import { startHarness, type Harness } from '../helpers/settle.js';

export interface RawRequest {
  method: string;
  path: string;
  /** A header given as an array is sent once per value (duplicate headers). */
  headers?: Record<string, string | string[]>;
  body?: string | Buffer;
}

export interface RawResponse {
  status: number;
  text: string;
  headers: Record<string, string | string[] | undefined>;
}

/** One request over a fresh connection, bytes exactly as given (node:http, no fetch normalisation). */
export function rawRequest(baseUrl: string, r: RawRequest): Promise<RawResponse> {
  const u = new URL(baseUrl);
  return new Promise((resolve, reject) => {
    const body = r.body === undefined ? undefined : Buffer.isBuffer(r.body) ? r.body : Buffer.from(r.body);
    const headers: Record<string, string | string[]> = { ...(r.headers ?? {}) };
    if (body !== undefined && !Object.keys(headers).some((k) => k.toLowerCase() === 'content-length')) {
      headers['content-length'] = String(body.length);
    }
    const req = httpRequest(
      {
        host: u.hostname,
        port: u.port,
        method: r.method,
        path: r.path,
        headers,
        agent: false,
      },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () =>
          resolve({
            status: res.statusCode ?? 0,
            text: Buffer.concat(chunks).toString('utf8'),
            headers: res.headers,
          }),
        );
        res.on('error', reject);
      },
    );
    req.on('error', reject);
    if (body !== undefined) req.write(body);
    req.end();
  });
}

export interface RouteEntry {
  method: string;
  /** Fastify's path, with `:param` segments. */
  path: string;
}

/**
 * The route table of a running Fastify instance, from `printRoutes({ commonPrefix: false })`: a tree whose lines
 * are `<indent><├── |└── ><segment> (<METHODS>)`, each segment relative to its parent line. HEAD twins of GET
 * routes are left out.
 */
export function parseRouteTree(tree: string): RouteEntry[] {
  const out: RouteEntry[] = [];
  const stack: string[] = [];
  for (const line of tree.split('\n')) {
    const m = /^((?:[│ ] {3}|[ ]{4})*)(?:[├└]── )?(\S+)(?: \(([A-Z, ]+)\))?\s*$/u.exec(line);
    if (m === null) continue;
    const depth = (m[1] ?? '').length / 4 + (line.includes('──') ? 1 : 0);
    const segment = m[2] ?? '';
    const parent = depth === 0 ? '' : (stack[depth - 1] ?? '');
    const full =
      parent === ''
        ? segment
        : parent.endsWith('/') || segment.startsWith('/')
          ? parent + segment
          : `${parent}/${segment}`;
    stack[depth] = full;
    stack.length = depth + 1;
    for (const method of (m[3] ?? '').split(',').map((s) => s.trim())) {
      if (method === '' || method === 'HEAD') continue;
      out.push({ method, path: full });
    }
  }
  return out;
}

/** The routes of a started Settle. */
export function routeTable(settle: SettleInstance): RouteEntry[] {
  return parseRouteTree(settle.http.printRoutes({ commonPrefix: false }));
}

/** Every table of the public schema except the migration bookkeeping. */
export async function tableNames(db: Db): Promise<string[]> {
  const r = await sql<{ table_name: string }>`
    select table_name from information_schema.tables
    where table_schema = 'public' and table_type = 'BASE TABLE' and table_name not like 'kysely_%' and table_name not like 'settle_migration%'
    order by table_name`.execute(db);
  return r.rows.map((x) => x.table_name);
}

/** Row count and a content digest (md5 of the rows as text, sorted) of every table: any write changes it. */
export async function tableDigest(db: Db): Promise<Record<string, string>> {
  const out: Record<string, string> = {};
  for (const t of await tableNames(db)) {
    const r = await sql<{ n: string | number; h: string | null }>`
      select count(*)::text as n, md5(coalesce(string_agg(x::text, '|' order by x::text), '')) as h
      from ${sql.table(t)} as x`.execute(db);
    const row = r.rows[0];
    out[t] = `${String(row?.n ?? '?')}:${row?.h ?? ''}`;
  }
  return out;
}

/** The tables whose digest differs between two snapshots. */
export function changedTables(before: Record<string, string>, after: Record<string, string>): string[] {
  const keys = new Set([...Object.keys(before), ...Object.keys(after)]);
  return [...keys].filter((k) => before[k] !== after[k]).sort();
}

/**
 * startHarness with a caller-supplied logger and a chosen operator token: the log scan needs every line Settle
 * writes, the authorization matrix a realistic token.
 */
export function startLoggedHarness(
  backend: Backend,
  opts: { logger?: Logger; adminToken: string; env?: Record<string, string> },
): Promise<Harness> {
  return startHarness(backend, opts);
}
