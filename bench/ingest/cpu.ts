/**
 * Where the CPU of an ingest run goes, read from /proc (Linux): the CPU time each process used between two snapshots,
 * grouped as Settle, the emulator, PostgreSQL's backends (`postgres`), its own processes (`pg-background`: WAL
 * writer, checkpointer, autovacuum) and everything else, next to the machine's busy and idle time from /proc/stat. The load generator reports its own
 * CPU time (it has exited before the second snapshot). On 2 cores shared by all of them this says what bounds a rate.
 */
import { readdirSync, readFileSync } from 'node:fs';
import { performance } from 'node:perf_hooks';

/** Clock ticks per second of /proc's CPU times (USER_HZ; 100 on every Linux this runs on). */
const HZ = 100;

export interface CpuSnapshot {
  at: number;
  /** Ticks per process group. */
  groups: Record<string, number>;
  /** Machine-wide ticks from /proc/stat. */
  busy: number;
  idle: number;
}

/**
 * `postgres` for a backend serving a client, `pg-background` for the server's own processes (WAL writer,
 * checkpointer, background writer, autovacuum, the postmaster), from the title PostgreSQL gives each process.
 */
function postgresRole(pid: string): string {
  try {
    const title = readFileSync(`/proc/${pid}/cmdline`, 'utf8').replace(/\0/g, ' ');
    return /\(\d+\)|\[local\]/.test(title) ? 'postgres' : 'pg-background';
  } catch {
    return 'pg-background';
  }
}

function ticksOf(stat: string): number {
  // After the command in parentheses: state is field 3; utime and stime are fields 14 and 15.
  const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return Number(f[11]) + Number(f[12]);
}

/** CPU ticks of every live process, grouped: `pids` name the known ones, `postgres` by its command name. */
export function cpuSnapshot(pids: Record<string, number | undefined>): CpuSnapshot {
  const byPid = new Map<number, string>();
  for (const [label, pid] of Object.entries(pids)) if (pid !== undefined) byPid.set(pid, label);
  const groups: Record<string, number> = {};
  for (const d of readdirSync('/proc')) {
    if (!/^\d+$/.test(d)) continue;
    try {
      const stat = readFileSync(`/proc/${d}/stat`, 'utf8');
      const comm = stat.slice(stat.indexOf('(') + 1, stat.lastIndexOf(')'));
      const label = byPid.get(Number(d)) ?? (comm === 'postgres' ? postgresRole(d) : 'other');
      groups[label] = (groups[label] ?? 0) + ticksOf(stat);
    } catch {
      // exited meanwhile
    }
  }
  const cpu = (readFileSync('/proc/stat', 'utf8').split('\n')[0] ?? '')
    .trim()
    .split(/\s+/)
    .slice(1)
    .map(Number);
  // user nice system idle iowait irq softirq steal
  const idle = (cpu[3] ?? 0) + (cpu[4] ?? 0);
  const busy = cpu.slice(0, 8).reduce((a, b) => a + b, 0) - idle;
  return { at: performance.now(), groups, busy, idle };
}

export interface CpuPerEvent {
  /** CPU ms per event of each group (and `loadgen` when given). */
  ms: Record<string, number>;
  /** Share of the machine's CPU time that was busy, 0–1. */
  busyShare: number;
  /** The machine's busy CPU ms per event, every process counted (also those that started and ended in between). */
  machineMs: number;
}

/**
 * CPU ms per event between two snapshots. `other` covers processes that were alive at both snapshots; work of
 * processes that started and ended in between (other than the load generator, given as `loadgenMs`) is in the
 * machine's busy time only.
 */
export function cpuPerEvent(a: CpuSnapshot, b: CpuSnapshot, events: number, loadgenMs?: number): CpuPerEvent {
  const ms: Record<string, number> = {};
  for (const k of new Set([...Object.keys(a.groups), ...Object.keys(b.groups)])) {
    const d = (b.groups[k] ?? 0) - (a.groups[k] ?? 0);
    ms[k] = (Math.max(0, d) * 1000) / HZ / events;
  }
  if (loadgenMs !== undefined) ms['loadgen'] = loadgenMs / events;
  const busy = b.busy - a.busy;
  const idle = b.idle - a.idle;
  return {
    ms,
    busyShare: busy + idle > 0 ? busy / (busy + idle) : 0,
    machineMs: (busy * 1000) / HZ / events,
  };
}

/** One line: `settle 1.90 · postgres 2.01 · … ms CPU per event; machine 97 % busy`. */
export function formatCpu(c: CpuPerEvent, order: readonly string[]): string {
  const parts = order.filter((k) => c.ms[k] !== undefined).map((k) => `${k} ${(c.ms[k] ?? 0).toFixed(2)}`);
  const total = Object.values(c.ms).reduce((s, v) => s + v, 0);
  return `${parts.join(' · ')} ms CPU per event (sum ${total.toFixed(2)}; machine ${c.machineMs.toFixed(2)}, ${Math.round(c.busyShare * 100)} % busy)`;
}
