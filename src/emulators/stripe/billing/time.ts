import type Stripe from 'stripe';
import { Clock } from '../../kit/clock.js';
import type { Engine } from '../engine.js';
import type { Scope } from '../store.js';

export const DAY = 86_400;
export const HOUR = 3_600;

/**
 * `anchor` moved `n` intervals forward, in UTC, as Stripe bills: a month later is the same day of the month, or the
 * month's last day when it has no such day (an anchor on the 31st bills on the 30th, then the 31st again).
 */
export function addIntervals(anchor: number, interval: Stripe.Price.Recurring.Interval, n: number): number {
  if (interval === 'day') return anchor + n * DAY;
  if (interval === 'week') return anchor + n * 7 * DAY;
  const d = new Date(anchor * 1000);
  const months = interval === 'year' ? 12 * n : n;
  const target = new Date(
    Date.UTC(
      d.getUTCFullYear(),
      d.getUTCMonth() + months,
      1,
      d.getUTCHours(),
      d.getUTCMinutes(),
      d.getUTCSeconds(),
    ),
  );
  const lastDay = new Date(Date.UTC(target.getUTCFullYear(), target.getUTCMonth() + 1, 0)).getUTCDate();
  target.setUTCDate(Math.min(d.getUTCDate(), lastDay));
  return Math.floor(target.getTime() / 1000);
}

/** The first period boundary after `after`, counting whole periods (`count` intervals each) from `anchor`. */
export function nextBoundary(anchor: number, recurring: Stripe.Price.Recurring, after: number): number {
  for (let k = 1; ; k++) {
    const t = addIntervals(anchor, recurring.interval, k * recurring.interval_count);
    if (t > after) return t;
  }
}

/** Now for objects on `clockId` (the test clock's frozen time) or on no clock (the emulator's clock). */
export function billingNow(engine: Engine, scope: Scope, clockId: string | null): number {
  if (clockId === null) return engine.clock.nowSeconds();
  return scope.testClocks.get(clockId)?.frozen_time ?? engine.clock.nowSeconds();
}

/**
 * Runs `fn` with the ambient time (`nowSeconds()`, event `created`) frozen at `at` (epoch seconds): what a test
 * clock's objects are created and changed at.
 */
export function atTime<T>(at: number, fn: () => T): T {
  return new Clock({ mode: 'manual', startMs: at * 1000 }).run(fn);
}
