import { boolParam, createdMatches, paginate, type Engine } from '../engine.js';
import { invalid, missing } from '../errors.js';
import { expandingRouter } from '../expand.js';
import { arr, str } from '../form.js';
import type { Router } from '../router.js';
import type { EventRecord } from '../store.js';

function typeMatcher(pattern: string): (t: string) => boolean {
  if (!pattern.includes('*')) return (t) => t === pattern;
  const re = new RegExp(
    `^${pattern
      .split('*')
      .map((s) => s.replace(/[.+?^${}()|[\]\\]/g, '\\$&'))
      .join('.*')}$`,
  );
  return (t) => re.test(t);
}

function deliveredOk(rec: EventRecord): boolean {
  for (const s of rec.deliveries.values()) if (s !== 'succeeded') return false;
  return true;
}

/** `GET /v1/events` scoped by Stripe-Account (the platform list holds platform events only). */
export function registerEvents(apiRouter: Router, engine: Engine): void {
  const router = expandingRouter(apiRouter, engine.store);
  router.get('/v1/events', (req) => {
    const p = req.params;
    const type = str(p.type);
    const types = arr(p.types).filter((t): t is string => typeof t === 'string');
    if (type !== undefined && types.length > 0)
      throw invalid('You may only specify one of these parameters: type, types.', 'types');
    if (types.length > 20) throw invalid('You may pass at most 20 types.', 'types');
    const matchers = (type !== undefined ? [type] : types).map(typeMatcher);
    const delivery = boolParam(p.delivery_success, 'delivery_success');
    const items = req.scope.events
      .filter(
        (rec) =>
          (matchers.length === 0 || matchers.some((m) => m(rec.event.type))) &&
          createdMatches(rec.event.created, p.created) &&
          (delivery === undefined || deliveredOk(rec) === delivery),
      )
      .reverse()
      .map((rec) => rec.event);
    return paginate(items, p, req.url);
  });

  router.get('/v1/events/:id', (req) => {
    const rec = req.scope.eventIndex.get(req.path.id ?? '');
    if (!rec) throw missing('event', req.path.id ?? '');
    return rec.event;
  });
}
