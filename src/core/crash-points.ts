import type { Logger } from '../log/logger.js';

/**
 * Injectable crash points for the reliability harness (test/reliability/crash.test.ts). Each named point sits at a
 * step boundary of confirmation, refunds or side-effect execution. They do nothing unless the process was started
 * with `SETTLE_TEST_CRASH_POINT=<name>` (docs/configuration.md); then reaching that point kills the process with
 * SIGKILL, as a power cut or `kill -9` would: no `finally`, no shutdown hook, no transaction end.
 *
 * This is the one piece of module state in Settle: a single call (`crashPoint('…')`) has to be placeable anywhere
 * without threading the context through. It is set once at start (`startSettle()`), never in production use.
 */
export const CRASH_POINTS = [
  /** confirmPayment, inside the transaction: the order row moved to paid (or review), nothing else yet. */
  'confirm.status_updated',
  /** confirmPayment, inside the transaction: inventory taken (or oversold decided). */
  'confirm.inventory_taken',
  /** confirmPayment, inside the transaction: payment, history and side-effect jobs written, not committed. */
  'confirm.effects_queued',
  /** confirmPayment, after the commit, before the caller (webhook, verify, reconcile) records or answers. */
  'confirm.committed',
  /** requestRefund: the reservation (refund row, refunded_amount, refund.submit job) committed; provider not called. */
  'refund.reserved',
  /** submitRefund: the provider accepted the refund; its answer is not recorded yet. */
  'refund.provider_answered',
  /** QueueWorker: a non-transactional (provider-calling) handler finished; the job is not marked done yet. */
  'outbox.handler_ran',
] as const;

export type CrashPointName = (typeof CRASH_POINTS)[number];

let armed: CrashPointName | null = null;
let log: Logger | null = null;

/** Arms one crash point (null disarms). Called once at start from configuration. */
export function setCrashPoint(name: CrashPointName | null, logger?: Logger): void {
  armed = name;
  log = logger ?? null;
  if (name !== null) log?.warn({ crashPoint: name }, 'test crash point armed: this process will kill itself');
}

/** Whether `name` is the armed crash point (a step that must exist for it: confirmPayment's one-statement path). */
export function crashPointArmed(name: CrashPointName): boolean {
  return armed === name;
}

/** Kills the process with SIGKILL when `name` is the armed crash point; otherwise does nothing. */
export function crashPoint(name: CrashPointName): void {
  if (armed !== name) return;
  log?.fatal({ crashPoint: name }, 'test crash point reached: SIGKILL');
  process.kill(process.pid, 'SIGKILL');
}
