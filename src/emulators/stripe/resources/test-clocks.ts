import type Stripe from 'stripe';
import { runBilling } from '../billing/cycle.js';
import { addIntervals, DAY } from '../billing/time.js';
import { intParam, paginate, type Engine } from '../engine.js';
import { invalid, missing, requiredParam } from '../errors.js';
import { expandingRouter } from '../expand.js';
import { str } from '../form.js';
import { newId, nowSeconds } from '../ids.js';
import type { Router } from '../router.js';
import type { Scope } from '../store.js';

type TestClock = Stripe.TestHelpers.TestClock;

/** Stripe deletes a test clock 30 days after it was created. */
const LIFETIME_DAYS = 30;
/** Real time (before timeScale) a clock spends `advancing` before it is `ready`. */
const ADVANCE_MS = 500;

function findClock(scope: Scope, id: string): TestClock {
  const clock = scope.testClocks.get(id);
  if (!clock) throw missing('test_helpers.test_clock', id, 'test_clock');
  return clock;
}

/**
 * The furthest a clock may be advanced in one step: two billing intervals of its shortest-billed live subscription
 * (Stripe: "you can advance a test clock up to two intervals from its current frozen time").
 */
function advanceLimit(scope: Scope, clock: TestClock): number | null {
  let limit: number | null = null;
  for (const sub of scope.subscriptions.values()) {
    if (sub.test_clock !== clock.id || ['canceled', 'incomplete_expired', 'paused'].includes(sub.status))
      continue;
    const r = sub.items.data[0]?.price.recurring;
    if (!r) continue;
    const t = addIntervals(clock.frozen_time, r.interval, 2 * r.interval_count);
    if (limit === null || t < limit) limit = t;
  }
  return limit;
}

/**
 * Test clocks (`/v1/test_helpers/test_clocks`): customers created with `test_clock` and their subscriptions live on
 * the clock's frozen time. Advancing answers `advancing` at once, bills everything due up to the new time in time
 * order, then turns `ready` (`test_helpers.test_clock.advancing`, `….ready`); retrieve polls it.
 */
export function registerTestClocks(apiRouter: Router, engine: Engine): void {
  const router = expandingRouter(apiRouter, engine.store);

  router.post('/v1/test_helpers/test_clocks', (req) => {
    const frozen = intParam(req.params.frozen_time, 'frozen_time');
    if (frozen === undefined) throw requiredParam('frozen_time');
    const created = nowSeconds();
    const clock: TestClock = {
      id: newId('clock', 24),
      object: 'test_helpers.test_clock',
      created,
      deletes_after: created + LIFETIME_DAYS * DAY,
      frozen_time: frozen,
      livemode: false,
      name: str(req.params.name) ?? null,
      status: 'ready',
      status_details: {},
    };
    req.scope.testClocks.set(clock.id, clock);
    engine.emit(req.scope, 'test_helpers.test_clock.created', clock, req.cause);
    return clock;
  });

  router.get('/v1/test_helpers/test_clocks/:id', (req) => findClock(req.scope, req.path.id ?? ''));

  router.get('/v1/test_helpers/test_clocks', (req) =>
    paginate([...req.scope.testClocks.values()].reverse(), req.params, req.url),
  );

  router.post('/v1/test_helpers/test_clocks/:id/advance', (req) => {
    const { scope } = req;
    const clock = findClock(scope, req.path.id ?? '');
    const target = intParam(req.params.frozen_time, 'frozen_time');
    if (target === undefined) throw requiredParam('frozen_time');
    if (clock.status === 'advancing')
      throw invalid(
        `The test clock ${clock.id} is already advancing: wait for it to be ready.`,
        undefined,
        'status_transition_invalid',
      );
    if (target <= clock.frozen_time)
      throw invalid(
        `The frozen_time must be after the test clock's current frozen_time (${clock.frozen_time}).`,
        'frozen_time',
      );
    const limit = advanceLimit(scope, clock);
    if (limit !== null && target > limit)
      throw invalid(
        `Cannot advance the test clock more than two billing intervals of its subscriptions at once (at most to ${limit}).`,
        'frozen_time',
      );
    clock.status = 'advancing';
    clock.status_details = { advancing: { target_frozen_time: target } };
    engine.emit(scope, 'test_helpers.test_clock.advancing', clock, req.cause);
    const answer = structuredClone(clock);
    // A real timer (not the emulator's clock, which stands still in manual mode); idle() waits for it.
    const release = engine.webhooks.hold();
    const timer = setTimeout(
      () => {
        try {
          engine.clock.run(() => {
            if (!scope.testClocks.has(clock.id)) return;
            // What the advance bills is Stripe's automatic work: its events carry no request.
            runBilling(engine, scope, clock.id, target);
            clock.frozen_time = target;
            clock.status = 'ready';
            clock.status_details = {};
            engine.emit(scope, 'test_helpers.test_clock.ready', clock);
          });
        } catch (err) {
          clock.status = 'internal_failure';
          engine.logger.error({ err, clock: clock.id }, 'stripe emulator: test clock advance failed');
          engine.emit(scope, 'test_helpers.test_clock.internal_failure', clock);
        } finally {
          release();
        }
      },
      Math.max(1, Math.round(engine.scaled(ADVANCE_MS))),
    );
    timer.unref();
    return answer;
  });

  router.delete('/v1/test_helpers/test_clocks/:id', (req) => {
    const { scope } = req;
    const clock = findClock(scope, req.path.id ?? '');
    // Deleting a clock deletes the objects on it (customers and their subscriptions).
    for (const [id, sub] of scope.subscriptions)
      if (sub.test_clock === clock.id) scope.subscriptions.delete(id);
    for (const [id, customer] of scope.customers)
      if (customer.test_clock === clock.id) scope.customers.delete(id);
    scope.testClocks.delete(clock.id);
    engine.emit(scope, 'test_helpers.test_clock.deleted', clock, req.cause);
    return { id: clock.id, object: 'test_helpers.test_clock', deleted: true };
  });
}
