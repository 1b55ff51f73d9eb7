/**
 * The reliability harness's figures. Every test under test/reliability/ records what it tried and what it saw
 * (events, faults, crashes, inputs; duplicates, losses, 5xx) with `record()`. `npm run reliability` runs the
 * full-scale version and `reliability/report.ts` turns the figures into docs/reliability.md; `npm test` (and CI)
 * runs the short scale and the figures go to a scratch file nobody reads.
 *
 * Scale: SETTLE_RELIABILITY=full for the published run, anything else is the short CI run. `scaled(short, full)`
 * picks the count for the current scale.
 */
import { appendFileSync, mkdirSync } from 'node:fs';
import { dirname, join } from 'node:path';

export const FULL = process.env['SETTLE_RELIABILITY'] === 'full';

/** The count for this run: the short one in CI, the full one in `npm run reliability`. */
export function scaled(short: number, full: number): number {
  return FULL ? full : short;
}

export const FIGURES_FILE =
  process.env['SETTLE_RELIABILITY_FIGURES'] ?? join('.reliability', 'figures.jsonl');

export interface Figure {
  /** The property, as docs/reliability.md names it (e.g. "One fulfilment per order under a duplicate storm"). */
  property: string;
  /** How it is tested, in one sentence. */
  method: string;
  /** What was tried and what was seen: counts only (events, faults, crashes, inputs, duplicates, losses, 5xx…). */
  figures: Record<string, number>;
  /** Did the property hold? (The test also asserts it; this is for the report.) */
  held: boolean;
}

/** Appends one figure line; the report groups them by property. */
export function record(f: Figure): void {
  mkdirSync(dirname(FIGURES_FILE), { recursive: true });
  appendFileSync(
    FIGURES_FILE,
    `${JSON.stringify({ ...f, scale: FULL ? 'full' : 'short', at: new Date().toISOString() })}\n`,
  );
}
