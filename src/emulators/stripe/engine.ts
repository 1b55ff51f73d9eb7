import type Stripe from 'stripe';
import type { Logger } from '../../log/logger.js';
import type { Clock } from '../kit/clock.js';
import { invalid } from './errors.js';
import type { Faults } from './faults.js';
import { arr, str, type FormObject, type FormValue } from './form.js';
import { newId } from './ids.js';
import { API_VERSION, type EventRecord, type Scope, type Store } from './store.js';
import type { WebhookDispatcher } from './webhooks.js';

/** Which API request caused an event (copied into `event.request`). */
export interface EventCause {
  requestId: string | null;
  idempotencyKey: string | null;
}

export const NO_CAUSE: EventCause = { requestId: null, idempotencyKey: null };

export interface EngineSettings {
  /** The clock's time scale (informational: delays are scaled by `engine.scaled`, i.e. the clock). */
  timeScale: number;
  zeroAmountPaymentStatus: 'no_payment_required' | 'paid';
  disputeDelayMs: number;
  requireChargesEnabled: boolean;
  publicUrl: string;
}

/** Shared state and services handed to every resource module. */
export class Engine {
  constructor(
    readonly store: Store,
    readonly webhooks: WebhookDispatcher,
    readonly faults: Faults,
    readonly settings: EngineSettings,
    readonly logger: Logger,
    /** The emulator's clock: timestamps, expiry, scheduled work (`POST /_emulator/clock` advances it). */
    readonly clock: Clock,
  ) {}

  /** Records an event on the scope owning the object and fans it out to the matching endpoints. */
  emit(scope: Scope, type: Stripe.Event.Type, object: object, cause: EventCause = NO_CAUSE): EventRecord {
    const event: Stripe.EventBase = {
      id: newId('evt'),
      object: 'event',
      ...(scope.account !== null ? { account: scope.account } : {}),
      api_version: API_VERSION,
      created: this.clock.nowSeconds(),
      data: { object: structuredClone(object) },
      livemode: false,
      pending_webhooks: 0,
      request: { id: cause.requestId, idempotency_key: cause.idempotencyKey },
      type,
    };
    const rec: EventRecord = { event, seq: this.store.nextSeq(), scope: scope.key, deliveries: new Map() };
    scope.events.push(rec);
    scope.eventIndex.set(event.id, rec);
    this.webhooks.dispatch(rec);
    this.logger.debug({ eventId: event.id, type, account: scope.account }, 'stripe emulator: event');
    return rec;
  }

  /** An internal delay multiplied by the time scale (clock ms; schedule it with `webhooks.later`). */
  scaled(ms: number): number {
    return this.clock.scaled(ms);
  }
}

/** Converts a form string to a non-negative integer, or throws a Stripe-shaped 400 naming `param`. */
export function intParam(v: FormValue | undefined, param: string): number | undefined {
  if (v === undefined) return undefined;
  const s = str(v);
  if (s === undefined || !/^-?\d+$/.test(s)) throw invalid(`Invalid integer: ${String(s ?? '')}`, param);
  const n = Number(s);
  if (n < 0) throw invalid(`Invalid ${param}: must be a non-negative integer`, param);
  return n;
}

export function boolParam(v: FormValue | undefined, param: string): boolean | undefined {
  if (v === undefined) return undefined;
  if (v === 'true') return true;
  if (v === 'false') return false;
  throw invalid(`Invalid boolean: ${String(str(v) ?? '')}`, param);
}

export interface ListOf<T> {
  object: 'list';
  data: T[];
  has_more: boolean;
  url: string;
}

/** Cursor pagination over `items` given newest first, with Stripe's `limit`/`starting_after`/`ending_before`. */
export function paginate<T extends { id?: string }>(items: T[], params: FormObject, url: string): ListOf<T> {
  const limitRaw = intParam(params.limit, 'limit') ?? 10;
  if (limitRaw < 1 || limitRaw > 100) throw invalid('Invalid limit: must be between 1 and 100', 'limit');
  const after = str(params.starting_after);
  const before = str(params.ending_before);
  if (after !== undefined && before !== undefined)
    throw invalid(
      'You may only specify one of these parameters: ending_before, starting_after.',
      'ending_before',
    );
  if (after !== undefined) {
    const i = items.findIndex((x) => x.id === after);
    if (i < 0) throw invalid(`No such object: '${after}'`, 'starting_after', 'resource_missing');
    const rest = items.slice(i + 1);
    return { object: 'list', data: rest.slice(0, limitRaw), has_more: rest.length > limitRaw, url };
  }
  if (before !== undefined) {
    const i = items.findIndex((x) => x.id === before);
    if (i < 0) throw invalid(`No such object: '${before}'`, 'ending_before', 'resource_missing');
    const head = items.slice(0, i);
    return {
      object: 'list',
      data: head.slice(Math.max(0, head.length - limitRaw)),
      has_more: head.length > limitRaw,
      url,
    };
  }
  return { object: 'list', data: items.slice(0, limitRaw), has_more: items.length > limitRaw, url };
}

/** Filters on `created` given as a number or `{gt,gte,lt,lte}`. */
export function createdMatches(created: number, filter: FormValue | undefined): boolean {
  if (filter === undefined) return true;
  if (typeof filter === 'string') return created === Number(filter);
  if (Array.isArray(filter)) return true;
  const n = (k: string): number | undefined =>
    typeof filter[k] === 'string' ? Number(filter[k]) : undefined;
  const gt = n('gt');
  const gte = n('gte');
  const lt = n('lt');
  const lte = n('lte');
  if (gt !== undefined && !(created > gt)) return false;
  if (gte !== undefined && !(created >= gte)) return false;
  if (lt !== undefined && !(created < lt)) return false;
  if (lte !== undefined && !(created <= lte)) return false;
  return true;
}

/** `expand[]` paths requested by the client (e.g. `payment_intent`, `latest_charge`, `data.payment_intent`). */
export function expandPaths(params: FormObject): string[] {
  return arr(params.expand).filter((x): x is string => typeof x === 'string');
}

/** Stripe expands at most four levels (`a.b.c.d`); deeper paths are refused. */
const MAX_EXPAND_DEPTH = 4;

/**
 * Replaces id strings at the requested paths with the objects they name (looked up in the scope). A path naming a
 * field the object does not have, or one that holds no object id, is refused as Stripe does: 400 "This property
 * cannot be expanded (path)." A list expands its items with the `data.` prefix.
 */
export function expand<T extends object>(value: T, paths: string[], scope: Scope, store: Store): T {
  if (paths.length === 0) return value;
  const copy = structuredClone(value) as Record<string, unknown>;
  for (const path of paths) {
    const parts = path.split('.');
    if (parts.length > MAX_EXPAND_DEPTH + (copy.object === 'list' ? 1 : 0))
      throw invalid(
        `You cannot expand more than ${MAX_EXPAND_DEPTH} levels of a property. Property: ${path}`,
        'expand',
      );
    if (copy.object === 'list' && parts[0] !== 'data')
      throw invalid(
        `This property cannot be expanded (${path}). Expand list items with 'data.${path}'.`,
        'expand',
      );
    expandOne(copy, parts, scope, store, path);
  }
  return copy as T;
}

function lookup(id: string, scope: Scope, store: Store): object | undefined {
  const prefix = id.slice(0, id.indexOf('_') + 1);
  switch (prefix) {
    case 'pi_':
      return scope.paymentIntents.get(id);
    case 'ch_':
      return scope.charges.get(id);
    case 're_':
      return scope.refunds.get(id);
    case 'dp_':
      return scope.disputes.get(id);
    case 'fee_':
      return store.scope('').applicationFees.get(id);
    case 'tr_':
      return store.scope('').transfers.get(id);
    case 'cus_':
      return scope.customers.get(id);
    case 'acct_':
      return store.accounts.get(id);
    case 'promo_':
      return scope.promotionCodes.get(id);
    default:
      return scope.coupons.get(id);
  }
}

/** An object id the emulator issues (`pi_…`, `ch_…`, `acct_…`, …): the only strings that can be expanded. */
const EXPANDABLE_ID = /^[a-z]+(_test)?_[A-Za-z0-9]+$/;

function expandOne(
  node: Record<string, unknown>,
  path: string[],
  scope: Scope,
  store: Store,
  full: string,
): void {
  const [head, ...rest] = path;
  if (head === undefined) return;
  const cannot = (): never => {
    throw invalid(`This property cannot be expanded (${full}).`, 'expand');
  };
  if (head === 'data' && node.object === 'list' && Array.isArray(node.data)) {
    if (rest.length === 0) cannot();
    for (const item of node.data)
      if (item && typeof item === 'object')
        expandOne(item as Record<string, unknown>, rest, scope, store, full);
    return;
  }
  if (head === 'refunds' && node.object === 'charge' && rest.length === 0) {
    // A charge's refunds are a list only when expanded (API versions since 2022-11-15).
    const data = [...scope.refunds.values()].filter((r) => r.charge === node.id).reverse();
    node.refunds = {
      object: 'list',
      data: structuredClone(data),
      has_more: false,
      url: `/v1/charges/${String(node.id)}/refunds`,
    };
    return;
  }
  if (!(head in node)) cannot();
  const v = node[head];
  if (v === null) return; // nothing to expand (e.g. a session's payment_intent before payment)
  if (typeof v === 'string') {
    if (!EXPANDABLE_ID.test(v)) cannot();
    const found = lookup(v, scope, store);
    if (!found) return;
    const c = structuredClone(found) as Record<string, unknown>;
    node[head] = c;
    expandOne(c, rest, scope, store, full);
  } else if (typeof v === 'object' && !Array.isArray(v)) {
    expandOne(v as Record<string, unknown>, rest, scope, store, full);
  } else {
    cannot();
  }
}
