/**
 * Resident memory of a process and its process tree, read from /proc (Linux), as bench/startup-memory.ts reads it,
 * sampled at a fixed interval and labelled with the benchmark's phase at the time of each sample.
 */
import { readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { performance } from 'node:perf_hooks';

/** The memory lines of /proc/<pid>/status, in kB (all 0 when the process is gone). */
export interface Status {
  /** Resident set size now. */
  rss: number;
  /** Its high-water mark since the start (or since the last resetHwm()). */
  hwm: number;
  /** Anonymous pages (the V8 heap, native allocations, PGlite's WebAssembly memory). */
  anon: number;
  /** File-backed pages (the node binary, shared libraries). */
  file: number;
}

export function status(pid: number): Status {
  try {
    const s = readFileSync(`/proc/${pid}/status`, 'utf8');
    const kb = (name: string): number => Number(new RegExp(`^${name}:\\s+(\\d+) kB`, 'm').exec(s)?.[1] ?? 0);
    return { rss: kb('VmRSS'), hwm: kb('VmHWM'), anon: kb('RssAnon'), file: kb('RssFile') };
  } catch {
    return { rss: 0, hwm: 0, anon: 0, file: 0 };
  }
}

/** pid and its descendants, from the parent pid in each /proc/<pid>/stat (bench/startup-memory.ts uses it too). */
export function tree(pid: number): number[] {
  const parent = new Map<number, number>();
  for (const d of readdirSync('/proc')) {
    if (!/^\d+$/.test(d)) continue;
    try {
      // After the command (in parentheses, which may contain spaces): state, then ppid.
      const stat = readFileSync(`/proc/${d}/stat`, 'utf8');
      parent.set(Number(d), Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]));
    } catch {
      // exited meanwhile
    }
  }
  const out = [pid];
  for (let i = 0; i < out.length; i++) {
    for (const [p, pp] of parent) if (pp === out[i]) out.push(p);
  }
  return out;
}

/**
 * Resets VmHWM to the current RSS (`echo 5 > /proc/<pid>/clear_refs`, Linux ≥ 4.0), so that the high-water mark
 * read later covers only what came after. False when not permitted (then VmHWM keeps the lifetime peak).
 */
export function resetHwm(pid: number): boolean {
  try {
    writeFileSync(`/proc/${pid}/clear_refs`, '5');
    return true;
  } catch {
    return false;
  }
}

export interface Sample {
  /** ms since the sampler started. */
  t: number;
  phase: string;
  rss: number;
  hwm: number;
  anon: number;
  file: number;
  /** Sum of VmRSS over the process tree (kB) and its process count. */
  treeRss: number;
  processes: number;
}

/** Samples `pid` every `intervalMs` until stop(); `phase` labels the samples taken from then on. */
export class Sampler {
  readonly samples: Sample[] = [];
  /** When each phase started (ms since the sampler started). */
  readonly phases: { t: number; phase: string }[] = [{ t: 0, phase: 'start' }];
  private current = 'start';
  private readonly t0 = performance.now();
  private readonly timer: NodeJS.Timeout;

  constructor(
    readonly pid: number,
    intervalMs = 250,
  ) {
    this.take();
    this.timer = setInterval(() => this.take(), intervalMs);
  }

  /** Starts a phase (a sample is taken at its boundary, labelled with the new phase). */
  phase(name: string): void {
    this.current = name;
    this.phases.push({ t: this.now(), phase: name });
    this.take();
  }

  /** ms since the sampler started. */
  now(): number {
    return performance.now() - this.t0;
  }

  take(): Sample {
    const s = status(this.pid);
    const pids = s.rss > 0 ? tree(this.pid) : [];
    const treeRss = pids.reduce((sum, p) => sum + (p === this.pid ? s.rss : status(p).rss), 0);
    const sample: Sample = {
      t: this.now(),
      phase: this.current,
      ...s,
      treeRss,
      processes: pids.length,
    };
    if (s.rss > 0) this.samples.push(sample);
    return sample;
  }

  stop(): void {
    clearInterval(this.timer);
  }

  /** The phase at time t (ms since the sampler started). */
  phaseAt(t: number): string {
    let p = 'start';
    for (const b of this.phases) if (b.t <= t) p = b.phase;
    return p;
  }

  of(phase: string): Sample[] {
    return this.samples.filter((s) => s.phase === phase);
  }
}

/** The p-th percentile (nearest rank) of the values. */
export function percentile(values: readonly number[], p: number): number {
  if (values.length === 0) return NaN;
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1))] ?? NaN;
}
