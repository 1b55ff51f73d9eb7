/**
 * `npm start`'s prestart: runs `npm run build` only when dist/ is missing or older than something it is built from
 * (src/, package.json, package-lock.json, the tsconfig files), so a start with an up-to-date build does not pay for
 * npm, tsc and esbuild starting only to find nothing to do (about 0.7 s on the 2-core machine, docs/performance.md).
 * The stamp dist/.build-stamp carries the time the last build through here began: a file saved during that build
 * counts as newer, and the next start builds again.
 */
import { spawnSync } from 'node:child_process';
import { existsSync, readdirSync, statSync, utimesSync, writeFileSync } from 'node:fs';
import process from 'node:process';

const STAMP = 'dist/.build-stamp';
const INPUTS = ['src', 'package.json', 'package-lock.json', 'tsconfig.json', 'tsconfig.build.json'];

/** The newest modification time under `path` (a directory's own time changes when an entry is added or removed). */
function newest(path) {
  const s = statSync(path);
  if (!s.isDirectory()) return s.mtimeMs;
  let m = s.mtimeMs;
  for (const entry of readdirSync(path)) m = Math.max(m, newest(`${path}/${entry}`));
  return m;
}

const built = existsSync(STAMP) ? statSync(STAMP).mtimeMs : -Infinity;
const sources = Math.max(...INPUTS.filter((p) => existsSync(p)).map(newest));
if (built >= sources) process.exit(0);

const began = new Date();
const r = spawnSync('npm', ['run', 'build', '--silent'], { stdio: 'inherit' });
if (r.status !== 0) process.exit(r.status ?? 1);
writeFileSync(STAMP, `${began.toISOString()}\n`);
utimesSync(STAMP, began, began);
