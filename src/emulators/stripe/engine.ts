import type Stripe from 'stripe';
import type { Logger } from '../../log/logger.js';
import { Clock } from '../kit/clock.js';
import type { RetrySettings } from './billing/cycle.js';
import { invalid } from './errors.js';
import type { Faults } from './faults.js';
import { str, type FormObject, type FormValue } from './form.js';
import { newId, nowSeconds } from './ids.js';
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
  /** Retries of failed subscription renewals (billing/cycle.ts). */
  billingRetry: RetrySettings;
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
      // The ambient time: the emulator's clock, or a test clock's frozen time while its objects are billed.
      created: Clock.current() ? nowSeconds() : this.clock.nowSeconds(),
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
