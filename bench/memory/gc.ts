/**
 * The V8 heap of the server without touching its code: it runs with `node --trace-gc`, which prints one line per
 * garbage collection to stdout (its log file), e.g.
 *
 *   [1234:0x5d…]     5093 ms: Mark-Compact 48.1 (52.3) -> 30.2 (50.1) MB, …
 *
 * "used (committed) before -> used (committed) after", times in ms since the isolate started (≈ the spawn).
 */
import { readFileSync } from 'node:fs';

export interface GcEvent {
  /** ms since the isolate started. */
  t: number;
  kind: string;
  /** Heap in use and committed after the collection, MB. */
  usedAfter: number;
  committedAfter: number;
  /** Heap in use before the collection, MB. */
  usedBefore: number;
}

const LINE =
  /^\[\d+:0x[0-9a-f]+\]\s+(\d+) ms: (Scavenge|Mark-Compact|Mark-sweep|Minor Mark-Sweep|Minor Mark-Compact)[^\d]*?([\d.]+) \(([\d.]+)\) -> ([\d.]+) \(([\d.]+)\) MB/;

export function gcEvents(logFile: string): GcEvent[] {
  let text: string;
  try {
    text = readFileSync(logFile, 'utf8');
  } catch {
    return [];
  }
  const out: GcEvent[] = [];
  for (const line of text.split('\n')) {
    const m = LINE.exec(line);
    if (!m) continue;
    out.push({
      t: Number(m[1]),
      kind: m[2] ?? '?',
      usedBefore: Number(m[3]),
      usedAfter: Number(m[5]),
      committedAfter: Number(m[6]),
    });
  }
  return out;
}
