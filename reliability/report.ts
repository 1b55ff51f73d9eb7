/**
 * `npm run reliability`: runs the reliability harness (test/reliability/) at full scale against the PostgreSQL
 * server and writes docs/reliability.md from the figures the tests recorded (test/reliability/figures.ts).
 * Loopback only; bounded in time (each test has its own timeout; the whole run is meant to stay under 15 minutes
 * on 2 cores).
 */
import { execFileSync, spawnSync } from 'node:child_process';
import { existsSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { cpus, totalmem } from 'node:os';
import { join } from 'node:path';

const figuresFile = join('.reliability', 'figures-full.jsonl');
const databaseUrl = process.env['DATABASE_URL'] ?? 'postgresql://postgres@127.0.0.1:5432/postgres';

interface Line {
  property: string;
  method: string;
  figures: Record<string, number>;
  held: boolean;
  scale: string;
}

function run(): { code: number; seconds: number } {
  rmSync(figuresFile, { force: true });
  const started = Date.now();
  const vitest = join('node_modules', 'vitest', 'vitest.mjs');
  const r = spawnSync(process.execPath, [vitest, 'run', 'test/reliability'], {
    stdio: 'inherit',
    env: {
      ...process.env,
      DATABASE_URL: databaseUrl,
      SETTLE_RELIABILITY: 'full',
      SETTLE_RELIABILITY_FIGURES: figuresFile,
    },
  });
  return { code: r.status ?? 1, seconds: Math.round((Date.now() - started) / 1000) };
}

function postgresVersion(): string {
  try {
    return execFileSync('psql', [databaseUrl, '-Atc', 'show server_version'], { encoding: 'utf8' }).trim();
  } catch {
    return 'unknown';
  }
}

function report(result: { code: number; seconds: number }): string {
  const lines: Line[] = existsSync(figuresFile)
    ? readFileSync(figuresFile, 'utf8')
        .split('\n')
        .filter((l) => l.trim() !== '')
        .map((l) => JSON.parse(l) as Line)
    : [];
  const byProperty = new Map<string, Line[]>();
  for (const l of lines) byProperty.set(l.property, [...(byProperty.get(l.property) ?? []), l]);
  const out: string[] = [
    '# Reliability',
    '',
    'What Settle promises under failure, how each promise is tested, and the figures of the last full run of',
    '`npm run reliability` (the harness in `test/reliability/`, at full scale, against the PostgreSQL server on loopback).',
    'CI runs the same tests at a short scale on every change. This file is written by `reliability/report.ts`; do not',
    'edit it by hand.',
    '',
    '## The run',
    '',
    `- Date: ${new Date().toISOString()}`,
    `- Machine: ${cpus().length} cores (${cpus()[0]?.model ?? 'unknown'}), ${Math.round(totalmem() / 2 ** 30)} GiB`,
    `- Node.js ${process.version}, PostgreSQL ${postgresVersion()}`,
    `- Duration: ${result.seconds} s; vitest exit code ${result.code} (${result.code === 0 ? 'every property held' : 'SOMETHING FAILED: see the run output'})`,
    '',
    '## Properties',
    '',
  ];
  for (const [property, ls] of byProperty) {
    const totals: Record<string, number> = {};
    for (const l of ls) for (const [k, v] of Object.entries(l.figures)) totals[k] = (totals[k] ?? 0) + v;
    const held = ls.every((l) => l.held);
    out.push(`### ${property}`, '', `${ls[0]?.method ?? ''}`, '');
    out.push(`Held: **${held ? 'yes' : 'NO'}** (${ls.length} run${ls.length === 1 ? '' : 's'}).`, '');
    out.push('| Figure | Value |', '| --- | ---: |');
    for (const [k, v] of Object.entries(totals))
      out.push(`| ${k} | ${Number.isInteger(v) ? v : v.toFixed(2)} |`);
    out.push('');
  }
  if (byProperty.size === 0)
    out.push('No figures were recorded: the run failed before any test finished.', '');
  return out.join('\n');
}

const result = run();
writeFileSync(join('docs', 'reliability.md'), report(result));
process.stdout.write(`docs/reliability.md written (${result.seconds} s, exit ${result.code})\n`);
process.exit(result.code);
