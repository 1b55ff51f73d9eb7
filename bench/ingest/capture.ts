/**
 * Captures the SQL Settle issues for one webhook confirmation from PostgreSQL's own statement log and turns it into a
 * pgbench script. `log_min_duration_statement = 0` is set with ALTER SYSTEM around a short sequential ingest and reset
 * afterwards, also when anything fails (and at exit, through the cleanup list).
 *
 * The log is parsed for the benchmark database's `execute` (extended protocol, with its `parameters:` detail) and
 * `statement:` (simple protocol: begin/commit) lines. One confirmation is the statements from its inbox insert to its
 * inbox mark (its own statement, or a write of the confirmation's combined statement, then up to that commit); the
 * queue worker's claims and job transactions that interleave there are left out (they touch `jobs`
 * other than by inserting), as is lease bookkeeping.
 *
 * In the script, the confirmation's own ids become pgbench expressions over distinct pre-inserted rows
 * (ord_lim_<n>, its hold, slot_lim_<si>, evt_lim_<n>, …); every other parameter stays the literal that was logged.
 */
import { existsSync, openSync, readSync, closeSync, readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';
import type pg from 'pg';
import { onCleanup } from './procs.js';

export interface CapturedScript {
  text: string;
  /** Short names of the statements, in order (for the report). */
  statements: string[];
  /** A Settle slot the captured confirmation used (template of the pre-inserted slots). */
  slotId: string;
}

interface Entry {
  pid: string;
  kind: 'execute' | 'statement';
  sql: string;
  params: (string | null)[];
}

const PREFIX = /^(\d{4}-\d\d-\d\d \d\d:\d\d:\d\d(?:\.\d+)? \S+) \[(\d+)\] (\S*)@(\S*) ([A-Z]+): {2}(.*)$/s;

async function logFile(adminPg: pg.Client): Promise<string> {
  const q = async (s: string) => (await adminPg.query<Record<string, string>>(s)).rows[0] ?? {};
  const collector = (await q('SHOW logging_collector'))['logging_collector'];
  if (collector === 'on') {
    const dataDir = (await q('SHOW data_directory'))['data_directory'] ?? '';
    const cur = (await q('SELECT pg_current_logfile() AS f'))['f'];
    if (cur) return cur.startsWith('/') ? cur : join(dataDir, cur);
  }
  // stderr of a Debian/Ubuntu cluster (pg_ctlcluster) goes to /var/log/postgresql/postgresql-<major>-<cluster>.log.
  const dir = '/var/log/postgresql';
  if (!existsSync(dir))
    throw new Error('no server log found (logging_collector off and no /var/log/postgresql)');
  const files = readdirSync(dir)
    .filter((f) => f.endsWith('.log'))
    .map((f) => join(dir, f))
    .sort((a, b) => statSync(b).mtimeMs - statSync(a).mtimeMs);
  if (files[0] === undefined) throw new Error(`no log file in ${dir}`);
  return files[0];
}

function readFrom(path: string, offset: number): string {
  const size = statSync(path).size;
  const len = Math.max(0, size - offset);
  const buf = Buffer.alloc(len);
  const fd = openSync(path, 'r');
  try {
    readSync(fd, buf, 0, len, offset);
  } finally {
    closeSync(fd);
  }
  return buf.toString('utf8');
}

/** `$1 = 'a', $2 = NULL, …` → ['a', null, …] */
function parseParams(s: string): (string | null)[] {
  const out: (string | null)[] = [];
  let i = 0;
  while (i < s.length) {
    const m = /^\s*,?\s*\$(\d+) = /.exec(s.slice(i));
    if (!m) break;
    i += m[0].length;
    const idx = Number(m[1]) - 1;
    if (s.startsWith('NULL', i)) {
      out[idx] = null;
      i += 4;
      continue;
    }
    if (s[i] !== "'") break;
    i++;
    let v = '';
    for (;;) {
      const q = s.indexOf("'", i);
      if (q < 0) throw new Error('unterminated parameter in the log');
      v += s.slice(i, q);
      if (s[q + 1] === "'") {
        v += "'";
        i = q + 2;
      } else {
        i = q + 1;
        break;
      }
    }
    out[idx] = v;
  }
  return out;
}

function parseLog(text: string, dbName: string): Entry[] {
  const lines: string[] = [];
  for (const l of text.split('\n')) {
    if (PREFIX.test(l) || lines.length === 0) lines.push(l);
    else lines[lines.length - 1] += `\n${l}`;
  }
  const entries: Entry[] = [];
  let last: Entry | null = null;
  for (const l of lines) {
    const m = PREFIX.exec(l);
    if (!m || m[4] !== dbName) continue;
    const [, , pid, , , level, msg] = m as unknown as [
      string,
      string,
      string,
      string,
      string,
      string,
      string,
    ];
    if (level === 'DETAIL' && last !== null && last.pid === pid && msg.startsWith('parameters: ')) {
      last.params = parseParams(msg.slice('parameters: '.length));
      continue;
    }
    if (level !== 'LOG') continue;
    const ex = /^duration: [\d.]+ ms {2}execute [^:]*: (.*)$/s.exec(msg);
    const st = /^duration: [\d.]+ ms {2}statement: (.*)$/s.exec(msg);
    if (ex) entries.push((last = { pid, kind: 'execute', sql: ex[1]!.trim(), params: [] }));
    else if (st) entries.push((last = { pid, kind: 'statement', sql: st[1]!.trim(), params: [] }));
    else last = null;
  }
  return entries;
}

/** The inbox insert: alone, or (a checkout event) with the read of its order in one statement (src/core/inbox.ts). */
const INBOX_INSERT = /^(with ins as \()?insert into "webhook_events"/i;

const isWorker = (sql: string) =>
  /"jobs"/.test(sql.replace(/insert into "jobs"/gi, '')) || /"leases"/.test(sql);

/** Statements of the confirmation whose inbox insert is entries[start], worker units left out. */
function oneConfirmation(entries: Entry[], start: number): Entry[] {
  // The inbox mark: its own statement, or (since the confirmation records it in its transaction) one of the writes
  // of the confirmation's combined statement, whose commit then ends the confirmation.
  const mark = entries.findIndex(
    (e, i) => i > start && /update "webhook_events" set "status"/i.test(e.sql) && e.kind === 'execute',
  );
  if (mark < 0) throw new Error('the inbox mark of the captured confirmation is not in the log');
  const markPid = entries[mark]!.pid;
  const end = /^update "webhook_events"/i.test(entries[mark]!.sql)
    ? mark
    : entries.findIndex((e, i) => i > mark && e.pid === markPid && /^(commit|rollback)$/i.test(e.sql));
  if (end < 0) throw new Error('the commit of the captured confirmation is not in the log');
  // Units: a transaction (begin … commit on one backend) or one autocommit statement.
  const units: Entry[][] = [];
  const open = new Map<string, Entry[]>();
  // Backends already inside a transaction at the inbox insert (a worker job begun earlier): not this confirmation's.
  const openBefore = new Set<string>();
  for (let i = 0; i < start; i++) {
    const e = entries[i]!;
    if (/^begin/i.test(e.sql)) openBefore.add(e.pid);
    else if (/^(commit|rollback)$/i.test(e.sql)) openBefore.delete(e.pid);
  }
  for (let i = start; i <= end; i++) {
    const e = entries[i]!;
    if (openBefore.has(e.pid)) {
      if (/^(commit|rollback)$/i.test(e.sql)) openBefore.delete(e.pid);
      continue;
    }
    const tx = open.get(e.pid);
    if (tx) {
      tx.push(e);
      if (/^(commit|rollback)$/i.test(e.sql)) open.delete(e.pid);
    } else if (/^begin/i.test(e.sql)) {
      const u = [e];
      open.set(e.pid, u);
      units.push(u);
    } else units.push([e]);
  }
  return units.filter((u) => !u.some((e) => isWorker(e.sql))).flat();
}

function literal(v: string): string {
  return `'${v.replace(/'/g, "''")}'`;
}

const ID = /^(ord|evt|cs|pi|pay|slt|hld|ch|py)_[A-Za-z0-9_]+$/;

function toScript(stmts: Entry[]): CapturedScript {
  // Ids of this confirmation → expressions over the pre-inserted rows.
  const tokens = new Map<string, string>();
  let slotId = '';
  for (const e of stmts)
    for (const p of e.params) {
      if (p === null || !ID.test(p) || tokens.has(p)) continue;
      const prefix = p.slice(0, p.indexOf('_'));
      if (prefix === 'slt') {
        slotId = p;
        tokens.set(p, `'slot_lim_' || :si`);
      } else tokens.set(p, `'${prefix}_lim_' || :n`);
    }
  if (slotId === '') throw new Error('no slot id among the captured parameters');
  const expr = (v: string | null): string => {
    if (v === null) return 'NULL';
    if (v.startsWith('{') || v.startsWith('[')) return literal(v);
    const exact = tokens.get(v);
    if (exact !== undefined) return `(${exact})`;
    const hit = [...tokens.keys()].find((t) => v.includes(t));
    if (hit === undefined) return literal(v);
    const parts = v.split(hit);
    return `(${parts.map((p) => literal(p)).join(` || ${tokens.get(hit)!} || `)})`;
  };
  const out: string[] = [
    '-- Settle ingest SQL for one checkout.session.completed, captured from the PostgreSQL log by bench/ingest.ts.',
    '\\set k :k + 1',
    '\\set n :client_id * :per_client + :k',
    '\\set si (:n % :nslots) + 1',
  ];
  const names: string[] = [];
  // The variable \gset gives the inbox row's id: its column's name (the combined form also returns the order's `id`).
  const inboxVar = stmts.some((e) => INBOX_INSERT.test(e.sql) && /settle_inbox_id/.test(e.sql))
    ? ':settle_inbox_id'
    : ':id';
  for (const e of stmts) {
    let sql = e.sql;
    if (e.kind === 'execute') {
      const inboxId = /update "webhook_events" set .*? where "id" = \$(\d+)/i.exec(sql)?.[1];
      sql = sql.replace(/\$(\d+)/g, (_m, d: string) =>
        d === inboxId ? inboxVar : expr(e.params[Number(d) - 1] ?? null),
      );
    }
    const gset = INBOX_INSERT.test(e.sql) && /returning "id"(\)|$)/i.test(e.sql);
    out.push(gset ? `${sql} \\gset` : `${sql};`);
    const m = /^(select|insert into|update|delete from)\s+(?:.*? from )?"?(\w+)"?/i.exec(e.sql);
    names.push(
      /^(begin|commit)/i.test(e.sql)
        ? e.sql.toLowerCase()
        : /^with /i.test(e.sql)
          ? `with: ${[...e.sql.matchAll(/ as \((update|insert into) "(\w+)"/gi)].map((x) => `${x[1]!.split(' ')[0]!.toLowerCase()} ${x[2]}`).join(', ')}${/join orders/i.test(e.sql) ? ', select orders' : ''}`
          : m
            ? `${m[1]!.split(' ')[0]!.toLowerCase()} ${/^select/i.test(e.sql) ? (/ from "(\w+)"/.exec(e.sql)?.[1] ?? '?') : m[2]}${/for no key update|for update/i.test(e.sql) ? ' (lock)' : ''}`
            : e.sql.slice(0, 20),
    );
  }
  return { text: `${out.join('\n')}\n`, statements: names, slotId };
}

export async function captureIngestSql(o: {
  adminPg: pg.Client;
  dbName: string;
  run: () => Promise<void>;
}): Promise<CapturedScript> {
  const entries = await captureStatements(o);
  const inserts = entries.map((e, i) => (INBOX_INSERT.test(e.sql) ? i : -1)).filter((i) => i >= 0);
  if (inserts.length === 0)
    throw new Error(
      `no webhook_events insert of database ${o.dbName} in the server log (is statement logging readable?)`,
    );
  // A warm confirmation from the middle of the run.
  const start = inserts[Math.min(2, inserts.length - 1)]!;
  return toScript(oneConfirmation(entries, start));
}

/** A statement a backend of the captured database ran, as logged (extended-protocol `execute` with its parameters). */
export type LoggedStatement = Entry;

/**
 * Every statement the backends of `dbName` ran while `run` ran, in log order, from the server's statement log
 * (`log_min_duration_statement = 0` around `run`, reset afterwards as in captureIngestSql()).
 */
export async function captureStatements(o: {
  adminPg: pg.Client;
  dbName: string;
  run: () => Promise<void>;
}): Promise<LoggedStatement[]> {
  const path = await logFile(o.adminPg);
  const offset = statSync(path).size;
  const reset = onCleanup('log_min_duration_statement', async () => {
    await o.adminPg.query('ALTER SYSTEM RESET log_min_duration_statement');
    await o.adminPg.query('SELECT pg_reload_conf()');
  });
  try {
    await o.adminPg.query('ALTER SYSTEM SET log_min_duration_statement = 0');
    await o.adminPg.query('SELECT pg_reload_conf()');
    await new Promise((r) => setTimeout(r, 300));
    await o.run();
    await new Promise((r) => setTimeout(r, 300));
  } finally {
    await reset();
  }
  await new Promise((r) => setTimeout(r, 200));
  return parseLog(readFrom(path, offset), o.dbName);
}
