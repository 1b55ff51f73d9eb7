import type { FastifyReply, FastifyRequest } from 'fastify';
import type { Logger } from '../../log/logger.js';
import type { Clock } from '../kit/clock.js';
import type { Faults } from '../kit/faults.js';
import type { IdempotencyPolicy } from '../kit/idempotency.js';
import { redirect, sendHtml } from '../kit/pages.js';
import { ApiServer, formFields, rawBodyOf, type ApiCall, type CallBase } from '../kit/server.js';
import { PageError, type Auth, type SquareEngine } from './engine.js';
import {
  SquareApiError,
  apiError,
  badRequest,
  forbidden,
  notEmulated,
  notFound,
  rateLimited,
  unauthorized,
} from './errors.js';
import { newRequestId, newSignatureKey, newSubscriptionId } from './ids.js';
import { CARD_CHOICES, type CardChoice, type Merchant, type Subscription } from './model.js';
import { authorizePage, checkoutPage, donePage, errorPage } from './pages.js';
import {
  disputeJson,
  locationJson,
  merchantJson,
  paymentLinkJson,
  refundJson,
  subscriptionJson,
  type Json,
} from './present.js';
import { ALL_OPERATIONS, EVENT_TYPES, OPERATIONS } from './spec/operations.generated.js';
import type { OperationSpec } from './spec/types.js';
import { checkBody, checkQuery, isHttpUrl, isObject, type JsonObject, type Query } from './validate.js';
import type { SquareEvents } from './webhooks.js';

/** What handlers see of a request: its operation, the checked body and query. */
export interface SquareParams {
  op: OperationSpec | null;
  body: JsonObject;
  query: Query;
}

export type SquareCall = ApiCall<Auth, SquareParams>;

/** One API request's `Square-Version` (the kit's request log has no room for it). */
export interface ApiCallRecord {
  method: string;
  path: string;
  squareVersion: string | null;
  at: number;
}

const toRoute = (path: string): string => path.replace(/\{([^}]+)\}/g, ':$1');

/** Square's answer to an unknown URL (text as Square answers it). */
const unknownEndpoint = (method: string, path: string): SquareApiError =>
  notFound(`API endpoint for URL path \`${path}\` and HTTP method \`${method}\` is not found.`);

/** Canonical JSON (sorted keys): what an idempotency key's request must match. */
function canonical(v: unknown): string {
  if (Array.isArray(v)) return `[${v.map(canonical).join(',')}]`;
  if (isObject(v))
    return `{${Object.keys(v)
      .sort()
      .map((k) => `${JSON.stringify(k)}:${canonical(v[k])}`)
      .join(',')}}`;
  return JSON.stringify(v);
}

function encodeCursor(offset: number, key: string): string {
  return Buffer.from(JSON.stringify({ o: offset, k: key })).toString('base64url');
}

/** A page of `items` (Square's `cursor` pagination: an opaque cursor bound to the query that made it). */
function paginate<T>(
  items: T[],
  cursor: string | undefined,
  limit: number,
  key: string,
): { page: T[]; cursor?: string } {
  let offset = 0;
  if (cursor !== undefined) {
    try {
      const c = JSON.parse(Buffer.from(cursor, 'base64url').toString('utf8')) as { o?: unknown; k?: unknown };
      if (typeof c.o !== 'number' || c.k !== key) throw new Error('cursor');
      offset = c.o;
    } catch {
      throw badRequest('INVALID_CURSOR', 'The pagination cursor is invalid for this request.', 'cursor');
    }
  }
  const page = items.slice(offset, offset + limit);
  return offset + limit < items.length ? { page, cursor: encodeCursor(offset + limit, key) } : { page };
}

/** The query without its cursor, in a stable order: what a cursor is bound to. */
function queryKey(q: Query): string {
  return Object.keys(q)
    .filter((k) => k !== 'cursor')
    .sort()
    .map((k) => `${k}=${(q[k] ?? []).join(',')}`)
    .join('&');
}

function one(q: Query, k: string): string | undefined {
  return q[k]?.[0];
}

function parseTime(v: string | undefined, field: string): number | null {
  if (v === undefined) return null;
  const ms = Date.parse(v);
  if (!/^\d{4}-\d{2}-\d{2}T/.test(v) || Number.isNaN(ms))
    throw badRequest(
      'INVALID_TIME',
      'Formatting for the provided time value is incorrect (RFC 3339 expected).',
      field,
    );
  return ms;
}

function limitOf(q: Query, max: number, field = 'limit'): number {
  const raw = one(q, field);
  if (raw === undefined) return max;
  const n = Number(raw);
  if (n < 1) throw badRequest('VALUE_TOO_LOW', 'Field must be at least 1', field);
  return Math.min(n, max);
}

function sortOrder(v: string | undefined, field = 'sort_order'): 'ASC' | 'DESC' {
  if (v === undefined) return 'DESC';
  if (v !== 'ASC' && v !== 'DESC')
    throw badRequest('INVALID_SORT_ORDER', 'Sort order must be ASC or DESC.', field);
  return v;
}

function tokenAuth(auth: Auth): {
  token: NonNullable<Extract<Auth, { kind: 'token' }>['token']>;
  merchant: Merchant;
} {
  if (auth.kind !== 'token') throw unauthorized();
  return { token: auth.token, merchant: auth.merchant };
}

export interface SquareServerOptions {
  clock: Clock;
  faults: Faults;
  logger: Logger;
  engine: SquareEngine;
  events: SquareEvents;
  defaultApiVersion: string;
}

export function buildSquareServer(o: SquareServerOptions): {
  api: ApiServer<Auth, SquareParams>;
  apiCalls: ApiCallRecord[];
} {
  const { engine, events, clock } = o;
  const routeOps = new Map<string, OperationSpec>();
  const apiCalls: ApiCallRecord[] = [];
  const opOf = (call: CallBase): OperationSpec | null => routeOps.get(`${call.method} ${call.route}`) ?? null;

  const idempotency: IdempotencyPolicy<SquareCall, CallBase> = {
    keyOf: (call) => {
      const v = call.body.value;
      if (call.method !== 'POST' || !isObject(v)) return null;
      const k = v['idempotency_key'];
      return typeof k === 'string' && k !== '' ? k : null;
    },
    scopeOf: (call) => (call.auth.kind === 'token' ? call.auth.merchant.id : 'application'),
    fingerprintOf: (call) => canonical(call.params.body),
    mismatch: (info) =>
      badRequest(
        'IDEMPOTENCY_KEY_REUSED',
        info.sameEndpoint
          ? 'The idempotency key was already used with a different request body.'
          : `The idempotency key was already used for ${info.priorEndpoint}.`,
        'idempotency_key',
      ),
    inFlight: () =>
      new SquareApiError(409, [
        {
          category: 'INVALID_REQUEST_ERROR',
          code: 'CONFLICT',
          detail: 'A request with this idempotency key is still being processed.',
          field: 'idempotency_key',
        },
      ]),
    // Only successful answers are replayed: a refused request can be corrected and sent again with its key.
    keep: (status) => status < 400,
  };

  const api = new ApiServer<Auth, SquareParams>({
    name: 'square emulator',
    clock,
    faults: o.faults,
    logger: o.logger,
    requestId: newRequestId,
    responseHeaders: (call) => {
      apiCalls.push({
        method: call.method,
        path: call.path,
        squareVersion: call.header('square-version'),
        at: clock.now(),
      });
      return {};
    },
    accountOf: (call) => {
      const m = /^Bearer (\S+)$/.exec(call.header('authorization') ?? '');
      return m?.[1] ? (engine.accessTokens.get(m[1])?.merchantId ?? null) : null;
    },
    authenticate: (call) => {
      const version = call.header('square-version');
      if (version !== null && !/^\d{4}-\d{2}-\d{2}$/.test(version))
        throw badRequest(
          'INVALID_SQUARE_VERSION_FORMAT',
          'The Square-Version header must be a date: YYYY-MM-DD.',
          'Square-Version',
        );
      const op = opOf(call);
      if (!op || op.auth === 'none') return { kind: 'none' };
      if (op.auth === 'client') {
        const h = call.header('authorization') ?? '';
        if (h !== `Client ${engine.opts.applicationSecret}`)
          throw unauthorized(
            'The Authorization header must be `Client <application secret>` for RevokeToken.',
          );
        return { kind: 'client' };
      }
      const { token, merchant } = engine.authenticate(call.header('authorization'));
      engine.requireScopes(token, op.scopes);
      return { kind: 'token', token, merchant };
    },
    params: (call) => {
      const op = opOf(call);
      if (!op) return { op: null, body: {}, query: {} };
      const query = checkQuery(op, call.query);
      const b = call.body;
      const body =
        call.method === 'GET' || call.method === 'DELETE'
          ? checkBody({ ...op, body: null }, b.kind, b.raw, b.value, b.error)
          : checkBody(op, b.kind, b.raw, b.value, b.error);
      return { op, body, query };
    },
    idempotency,
    renderError: (err, ctx) => {
      if (err instanceof SquareApiError) return { status: err.status, body: err.body() };
      if (ctx.kind === 'control')
        return {
          status: 400,
          body: badRequest('BAD_REQUEST', err instanceof Error ? err.message : String(err)).body(),
        };
      o.logger.error({ err }, 'square emulator: internal error');
      return { status: 500, body: apiError(500).body() };
    },
    faultError: (fault) => (fault.kind === '429' ? rateLimited() : apiError(fault.status)),
    notFound: (method, path) => unknownEndpoint(method, path),
    invalidRequest: (message, param) => badRequest('BAD_REQUEST', message, param),
  });

  const serve = (id: string, handler: (call: SquareCall) => unknown): void => {
    const op = OPERATIONS[id];
    if (!op) throw new Error(`No operation ${id} in the generated table`);
    const route = toRoute(op.path);
    routeOps.set(`${op.method} ${route}`, op);
    api.route(op.method, route, handler);
  };

  const publicUrl = (): string => engine.opts.publicUrl();
  const personal = (call: SquareCall): void => {
    if (call.auth.kind !== 'token' || call.auth.token.kind !== 'personal')
      throw forbidden("Webhook subscriptions are managed with the application's personal access token.");
  };

  // ---- OAuth ----
  serve('ObtainToken', (call) => engine.obtainToken(call.params.body));
  serve('RevokeToken', (call) => engine.revokeToken(call.params.body));
  serve('RetrieveTokenStatus', (call) => engine.tokenStatus(tokenAuth(call.auth).token));

  // ---- merchants and locations ----
  serve('ListLocations', (call) => {
    const { merchant } = tokenAuth(call.auth);
    return {
      locations: merchant.locationIds.map((id) =>
        locationJson(
          engine.locations.require(id, () => notFound(id)),
          merchant,
        ),
      ),
    };
  });
  serve('RetrieveLocation', (call) => {
    const { merchant } = tokenAuth(call.auth);
    const raw = call.pathParams['location_id'] ?? '';
    const id = raw === 'main' ? merchant.mainLocationId : raw;
    const loc = engine.locations.get(id);
    if (!loc || loc.merchantId !== merchant.id) throw notFound(`Location \`${raw}\` not found.`);
    return { location: locationJson(loc, merchant) };
  });
  serve('ListMerchants', (call) => {
    const { merchant } = tokenAuth(call.auth);
    if (one(call.params.query, 'cursor') !== undefined && one(call.params.query, 'cursor') !== '0')
      throw badRequest('INVALID_CURSOR', 'The pagination cursor is invalid.', 'cursor');
    return { merchant: [merchantJson(merchant)] };
  });
  serve('RetrieveMerchant', (call) => {
    const { merchant } = tokenAuth(call.auth);
    const id = call.pathParams['merchant_id'] ?? '';
    if (id !== 'me' && id !== merchant.id) throw notFound(`Merchant \`${id}\` not found.`);
    return { merchant: merchantJson(merchant) };
  });

  // ---- orders ----
  serve('RetrieveOrder', (call) => {
    const { merchant } = tokenAuth(call.auth);
    return { order: engine.orderJson(engine.orderFor(merchant, call.pathParams['order_id'] ?? '')) };
  });
  serve('BatchRetrieveOrders', (call) => {
    const { merchant } = tokenAuth(call.auth);
    const ids = call.params.body['order_ids'];
    const list = Array.isArray(ids) ? ids.filter((x): x is string => typeof x === 'string') : [];
    if (list.length > 100) throw badRequest('ARRAY_LENGTH_TOO_LONG', 'At most 100 order ids.', 'order_ids');
    const locationId = call.params.body['location_id'];
    const orders = list
      .map((id) => engine.orders.get(id))
      .filter((x) => x !== undefined && x.merchantId === merchant.id)
      .filter((x) => typeof locationId !== 'string' || x?.locationId === locationId)
      .map((x) => (x ? engine.orderJson(x) : null));
    return orders.length > 0 ? { orders } : {};
  });

  // ---- payment links ----
  serve('CreatePaymentLink', (call) => {
    const auth = tokenAuth(call.auth);
    const { link, order } = engine.createPaymentLink(auth, call.params.body);
    return {
      payment_link: paymentLinkJson(link, publicUrl()),
      related_resources: { orders: [engine.orderJson(order)] },
    };
  });
  serve('ListPaymentLinks', (call) => {
    const { merchant } = tokenAuth(call.auth);
    const q = call.params.query;
    const all = engine.links.newestFirst().filter((l) => l.merchantId === merchant.id && !l.deleted);
    const { page, cursor } = paginate(all, one(q, 'cursor'), limitOf(q, 1000), `links:${merchant.id}`);
    return page.length > 0
      ? { payment_links: page.map((l) => paymentLinkJson(l, publicUrl())), ...(cursor ? { cursor } : {}) }
      : {};
  });
  serve('RetrievePaymentLink', (call) => {
    const { merchant } = tokenAuth(call.auth);
    return {
      payment_link: paymentLinkJson(engine.linkFor(merchant, call.pathParams['id'] ?? ''), publicUrl()),
    };
  });
  serve('DeletePaymentLink', (call) =>
    engine.deleteLink(tokenAuth(call.auth).merchant, call.pathParams['id'] ?? ''),
  );

  // ---- payments ----
  serve('GetPayment', (call) => {
    const { merchant } = tokenAuth(call.auth);
    return { payment: engine.paymentJson(engine.paymentFor(merchant, call.pathParams['payment_id'] ?? '')) };
  });
  serve('ListPayments', (call) => {
    const { merchant } = tokenAuth(call.auth);
    const q = call.params.query;
    const now = clock.now();
    const begin = parseTime(one(q, 'begin_time'), 'begin_time') ?? now - 365 * 24 * 3600_000;
    const end = parseTime(one(q, 'end_time'), 'end_time') ?? now;
    if (begin > end)
      throw badRequest('INVALID_TIME_RANGE', 'begin_time must be before end_time.', 'begin_time');
    const updBegin = parseTime(one(q, 'updated_at_begin_time'), 'updated_at_begin_time');
    const updEnd = parseTime(one(q, 'updated_at_end_time'), 'updated_at_end_time');
    const sortField = one(q, 'sort_field') ?? 'CREATED_AT';
    if (sortField === 'OFFLINE_CREATED_AT')
      throw notEmulated('sort_field `OFFLINE_CREATED_AT`', 'sort_field');
    const order = sortOrder(one(q, 'sort_order'));
    const location = one(q, 'location_id');
    const total = one(q, 'total');
    const last4 = one(q, 'last_4');
    const brand = one(q, 'card_brand');
    const key = sortField === 'UPDATED_AT' ? 'updatedAt' : 'createdAt';
    const list = engine.payments
      .all()
      .filter((p) => p.merchantId === merchant.id)
      .filter((p) => p.createdAt >= begin && p.createdAt <= end)
      .filter(
        (p) => (updBegin === null || p.updatedAt >= updBegin) && (updEnd === null || p.updatedAt <= updEnd),
      )
      .filter((p) => location === undefined || p.locationId === location)
      .filter((p) => total === undefined || p.amount === Number(total))
      .filter(
        (p) =>
          last4 === undefined ||
          (p.sourceType === 'CARD' && (p.declineCode !== null ? '0002' : '1111') === last4),
      )
      .filter((p) => brand === undefined || (p.sourceType === 'CARD' && brand === 'VISA'))
      .sort((a, b) => (order === 'ASC' ? a[key] - b[key] : b[key] - a[key]));
    const { page, cursor } = paginate(
      list,
      one(q, 'cursor'),
      limitOf(q, 100),
      `payments:${merchant.id}:${queryKey(call.params.query)}`,
    );
    return page.length > 0
      ? { payments: page.map((p) => engine.paymentJson(p)), ...(cursor ? { cursor } : {}) }
      : {};
  });

  // ---- refunds ----
  serve('RefundPayment', (call) => ({
    refund: refundJson(engine.refundPayment(tokenAuth(call.auth), call.params.body)),
  }));
  serve('GetPaymentRefund', (call) => {
    const { merchant } = tokenAuth(call.auth);
    return { refund: refundJson(engine.refundFor(merchant, call.pathParams['refund_id'] ?? '')) };
  });
  serve('ListPaymentRefunds', (call) => {
    const { merchant } = tokenAuth(call.auth);
    const q = call.params.query;
    const now = clock.now();
    const begin = parseTime(one(q, 'begin_time'), 'begin_time') ?? now - 365 * 24 * 3600_000;
    const end = parseTime(one(q, 'end_time'), 'end_time') ?? now;
    if (begin > end)
      throw badRequest('INVALID_TIME_RANGE', 'begin_time must be before end_time.', 'begin_time');
    const order = sortOrder(one(q, 'sort_order'));
    const status = one(q, 'status');
    const location = one(q, 'location_id');
    const list = engine.refunds
      .all()
      .filter((r) => r.merchantId === merchant.id && r.createdAt >= begin && r.createdAt <= end)
      .filter((r) => status === undefined || r.status === status)
      .filter((r) => location === undefined || r.locationId === location)
      .sort((a, b) => (order === 'ASC' ? a.createdAt - b.createdAt : b.createdAt - a.createdAt));
    const { page, cursor } = paginate(
      list,
      one(q, 'cursor'),
      limitOf(q, 100),
      `refunds:${merchant.id}:${queryKey(call.params.query)}`,
    );
    return page.length > 0 ? { refunds: page.map(refundJson), ...(cursor ? { cursor } : {}) } : {};
  });

  // ---- disputes ----
  serve('ListDisputes', (call) => {
    const { merchant } = tokenAuth(call.auth);
    const q = call.params.query;
    const states = q['states'];
    const location = one(q, 'location_id');
    const list = engine.disputes
      .newestFirst()
      .filter((d) => d.merchantId === merchant.id)
      .filter((d) => !states || states.includes(d.state))
      .filter((d) => location === undefined || d.locationId === location);
    const { page, cursor } = paginate(
      list,
      one(q, 'cursor'),
      100,
      `disputes:${merchant.id}:${queryKey(call.params.query)}`,
    );
    return page.length > 0 ? { disputes: page.map(disputeJson), ...(cursor ? { cursor } : {}) } : {};
  });
  serve('RetrieveDispute', (call) => {
    const { merchant } = tokenAuth(call.auth);
    return { dispute: disputeJson(engine.disputeFor(merchant, call.pathParams['dispute_id'] ?? '')) };
  });

  // ---- events ----
  serve('SearchEvents', (call) => {
    const { merchant, token } = tokenAuth(call.auth);
    const b = call.params.body;
    const query = isObject(b['query']) ? b['query'] : {};
    const filter = isObject(query['filter']) ? query['filter'] : {};
    const sort = isObject(query['sort']) ? query['sort'] : {};
    const strings = (v: unknown): string[] | null =>
      Array.isArray(v) ? v.filter((x): x is string => typeof x === 'string') : null;
    const types = strings(filter['event_types']);
    const merchants = strings(filter['merchant_ids']);
    const locations = strings(filter['location_ids']);
    const range = isObject(filter['created_at']) ? filter['created_at'] : {};
    const start = parseTime(
      typeof range['start_at'] === 'string' ? range['start_at'] : undefined,
      'query.filter.created_at.start_at',
    );
    const endAt = parseTime(
      typeof range['end_at'] === 'string' ? range['end_at'] : undefined,
      'query.filter.created_at.end_at',
    );
    if (start !== null && endAt !== null && start > endAt)
      throw badRequest('INVALID_TIME_RANGE', 'start_at must be before end_at.', 'query.filter.created_at');
    const order = sortOrder(
      typeof sort['order'] === 'string' ? sort['order'] : undefined,
      'query.sort.order',
    );
    const limit = typeof b['limit'] === 'number' ? b['limit'] : 100;
    // The application's own token sees the events of every seller that authorized it; a seller token, that seller's.
    const visible = (m: string): boolean =>
      token.kind === 'personal' ? engine.grantedScopes(m) !== null || m === merchant.id : m === merchant.id;
    const list = events
      .searchable(visible)
      .filter((e) => !types || types.includes(e.type))
      .filter((e) => !merchants || merchants.includes(e.merchantId))
      .filter((e) => !locations || (e.locationId !== null && locations.includes(e.locationId)))
      .filter((e) => (start === null || e.createdAt >= start) && (endAt === null || e.createdAt <= endAt))
      .sort((a, c) => (order === 'ASC' ? a.createdAt - c.createdAt : c.createdAt - a.createdAt));
    const cursorIn = typeof b['cursor'] === 'string' ? b['cursor'] : undefined;
    const { page, cursor } = paginate(list, cursorIn, limit, `events:${merchant.id}:${canonical(query)}`);
    return page.length > 0
      ? {
          events: page.map((e) => e.envelope),
          metadata: page.map((e) => ({ event_id: e.id, api_version: e.apiVersion })),
          ...(cursor ? { cursor } : {}),
        }
      : {};
  });
  serve('EnableEvents', () => {
    events.enabled = true;
    return {};
  });
  serve('DisableEvents', () => {
    events.enabled = false;
    return {};
  });
  const eventTypes = (call: SquareCall): Json => {
    const version = one(call.params.query, 'api_version');
    if (version !== undefined && !/^\d{4}-\d{2}-\d{2}$/.test(version))
      throw badRequest('INVALID_VALUE', 'api_version must be a date: YYYY-MM-DD.', 'api_version');
    return {
      event_types: [...EVENT_TYPES],
      metadata: EVENT_TYPES.map((t) => ({
        event_type: t,
        api_version_introduced: '2020-01-01',
        release_status: 'PUBLIC',
      })),
    };
  };
  serve('ListEventTypes', eventTypes);
  serve('ListWebhookEventTypes', eventTypes);

  // ---- webhook subscriptions ----
  const subscriptionInput = (s: JsonObject, existing: Subscription | null): Partial<Subscription> => {
    const out: Partial<Subscription> = {};
    if (typeof s['name'] === 'string') out.name = s['name'];
    if (typeof s['enabled'] === 'boolean') out.enabled = s['enabled'];
    if (Array.isArray(s['event_types'])) {
      const types = s['event_types'].filter((x): x is string => typeof x === 'string');
      const unknown = types.filter((t) => !EVENT_TYPES.includes(t));
      if (unknown.length > 0)
        throw badRequest(
          'INVALID_VALUE',
          `Unknown event type${unknown.length > 1 ? 's' : ''}: ${unknown.join(', ')}.`,
          'subscription.event_types',
        );
      out.eventTypes = [...new Set(types)];
    }
    if (typeof s['notification_url'] === 'string') {
      if (!isHttpUrl(s['notification_url']))
        throw badRequest(
          'INVALID_VALUE',
          'notification_url must be an absolute http(s) URL.',
          'subscription.notification_url',
        );
      out.url = s['notification_url'];
    }
    if (typeof s['api_version'] === 'string') {
      if (!/^\d{4}-\d{2}-\d{2}$/.test(s['api_version']))
        throw badRequest(
          'INVALID_VALUE',
          'api_version must be a date: YYYY-MM-DD.',
          'subscription.api_version',
        );
      out.apiVersion = s['api_version'];
    }
    if (!existing) {
      if (!out.url)
        throw badRequest('MISSING_REQUIRED_PARAMETER', 'Field must be set', 'subscription.notification_url');
      if (!out.eventTypes || out.eventTypes.length === 0)
        throw badRequest('MISSING_REQUIRED_PARAMETER', 'Field must be set', 'subscription.event_types');
    }
    return out;
  };
  const subscriptionFor = (id: string): Subscription =>
    events.subscriptions.require(id, () => notFound(`Subscription \`${id}\` not found.`));
  serve('CreateWebhookSubscription', (call) => {
    personal(call);
    const s = isObject(call.params.body['subscription']) ? call.params.body['subscription'] : {};
    const input = subscriptionInput(s, null);
    const now = clock.now();
    const sub: Subscription = {
      id: newSubscriptionId(),
      name: input.name ?? null,
      enabled: input.enabled ?? true,
      eventTypes: input.eventTypes ?? [],
      url: input.url ?? '',
      apiVersion: input.apiVersion ?? call.header('square-version') ?? o.defaultApiVersion,
      signatureKey: newSignatureKey(),
      createdAt: now,
      updatedAt: now,
    };
    events.subscriptions.set(sub.id, sub);
    return { subscription: subscriptionJson(sub, true) };
  });
  serve('ListWebhookSubscriptions', (call) => {
    personal(call);
    const q = call.params.query;
    const includeDisabled = one(q, 'include_disabled') === 'true';
    const order = one(q, 'sort_order') ?? 'ASC';
    if (order !== 'ASC' && order !== 'DESC')
      throw badRequest('INVALID_SORT_ORDER', 'Sort order must be ASC or DESC.', 'sort_order');
    const list = events.subscriptions
      .all()
      .filter((s) => includeDisabled || s.enabled)
      .sort((a, b) => (order === 'ASC' ? a.createdAt - b.createdAt : b.createdAt - a.createdAt));
    const { page, cursor } = paginate(
      list,
      one(q, 'cursor'),
      limitOf(q, 100),
      `subs:${queryKey(call.params.query)}`,
    );
    return page.length > 0
      ? { subscriptions: page.map((s) => subscriptionJson(s, false)), ...(cursor ? { cursor } : {}) }
      : {};
  });
  serve('RetrieveWebhookSubscription', (call) => {
    personal(call);
    return {
      subscription: subscriptionJson(subscriptionFor(call.pathParams['subscription_id'] ?? ''), true),
    };
  });
  serve('UpdateWebhookSubscription', (call) => {
    personal(call);
    const sub = subscriptionFor(call.pathParams['subscription_id'] ?? '');
    const s = isObject(call.params.body['subscription']) ? call.params.body['subscription'] : {};
    const input = subscriptionInput(s, sub);
    if (input.eventTypes && input.eventTypes.length === 0)
      throw badRequest(
        'INVALID_VALUE',
        'A subscription needs at least one event type.',
        'subscription.event_types',
      );
    Object.assign(sub, input, { updatedAt: clock.now() });
    return { subscription: subscriptionJson(sub, true) };
  });
  serve('DeleteWebhookSubscription', (call) => {
    personal(call);
    const sub = subscriptionFor(call.pathParams['subscription_id'] ?? '');
    events.subscriptions.delete(sub.id);
    return {};
  });
  serve('UpdateWebhookSubscriptionSignatureKey', (call) => {
    personal(call);
    const sub = subscriptionFor(call.pathParams['subscription_id'] ?? '');
    sub.signatureKey = newSignatureKey();
    sub.updatedAt = clock.now();
    return { signature_key: sub.signatureKey };
  });

  // ---- everything else Square documents: refused as not emulated ----
  const served = new Set([...routeOps.keys()]);
  for (const op of ALL_OPERATIONS) {
    const route = toRoute(op.path);
    if (served.has(`${op.method} ${route}`) || op.path === '/oauth2/authorize') continue;
    const method = op.method as 'GET' | 'POST' | 'PUT' | 'DELETE' | 'PATCH';
    try {
      api.route(method, route, () => {
        throw notEmulated(`${op.id} (${op.method} ${op.path})`);
      });
    } catch (err) {
      o.logger.debug({ err, route }, 'square emulator: route not registered');
    }
  }

  registerPages(api, engine);
  return { api, apiCalls };
}

// ---- hosted pages ----

function pageError(reply: FastifyReply, err: unknown): FastifyReply {
  if (err instanceof PageError) return sendHtml(reply, err.status, errorPage('Square', err.message));
  return sendHtml(reply, 400, errorPage('Square', err instanceof Error ? err.message : String(err)));
}

function flatQuery(req: FastifyRequest): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [k, v] of new URLSearchParams(req.url.split('?')[1] ?? '')) if (!(k in out)) out[k] = v;
  return out;
}

function registerPages(api: ApiServer<Auth, SquareParams>, engine: SquareEngine): void {
  const app = api.app;
  const sellers = (): Merchant[] => engine.merchants.all().filter((m) => !m.developer);

  app.get('/oauth2/authorize', (req, reply) => {
    try {
      const q = flatQuery(req);
      const r = engine.authorizeRequest(q);
      return sendHtml(
        reply,
        200,
        authorizePage({
          applicationName: engine.opts.applicationName,
          action: '/oauth2/authorize',
          scopes: r.scopes,
          withheld: engine.withheldScopes,
          sellers: sellers(),
          hidden: {
            client_id: q['client_id'] ?? '',
            scope: r.scopes.join(' '),
            ...(r.state !== null ? { state: r.state } : {}),
            ...(q['redirect_uri'] !== undefined ? { redirect_uri: q['redirect_uri'] } : {}),
          },
        }),
      );
    } catch (err) {
      return pageError(reply, err);
    }
  });

  app.post('/oauth2/authorize', (req, reply) => {
    try {
      const f = formFields(req);
      const q: Record<string, string> = { client_id: f['client_id'] ?? '', scope: f['scope'] ?? '' };
      if (f['state'] !== undefined) q['state'] = f['state'];
      if (f['redirect_uri'] !== undefined) q['redirect_uri'] = f['redirect_uri'];
      const r = engine.authorizeRequest(q);
      const target = new URL(r.redirectUri);
      if (f['action'] === 'deny') {
        target.searchParams.set('error', 'access_denied');
        target.searchParams.set('error_description', 'user_denied');
        if (r.state !== null) target.searchParams.set('state', r.state);
        return redirect(reply, target.toString(), 302);
      }
      if (f['action'] !== 'allow') throw new Error('Choose Allow or Deny.');
      const ticked = grantedFields(req);
      const scopes = r.scopes.filter((s) => ticked.includes(s));
      const merchantId = f['merchant_id'];
      const { code } = engine.grant({
        scopes,
        ...(merchantId ? { merchantId } : { sellerName: f['seller_name'] ?? '' }),
        redirectUri: q['redirect_uri'] ?? null,
      });
      target.searchParams.set('code', code);
      target.searchParams.set('response_type', 'code');
      if (r.state !== null) target.searchParams.set('state', r.state);
      return redirect(reply, target.toString(), 302);
    } catch (err) {
      return pageError(reply, err);
    }
  });

  const showCheckout = (
    ref: string,
    reply: FastifyReply,
    action: string,
    error?: string,
    status = 200,
  ): FastifyReply => {
    const link = engine.findLink(ref);
    if (!link || link.deleted)
      throw new PageError(404, 'This payment link does not exist or was deactivated.');
    const order = engine.orders.get(link.orderId);
    if (!order) throw new PageError(404, 'The order of this link is gone.');
    if (order.state !== 'DRAFT')
      return sendHtml(reply, 200, donePage('Paid', 'This order has already been paid.'));
    const merchant = engine.merchantFor(link.merchantId);
    return sendHtml(
      reply,
      status,
      checkoutPage({ link, order, merchant, action, ...(error !== undefined ? { error } : {}) }),
    );
  };
  const postCheckout = (
    ref: string,
    req: FastifyRequest,
    reply: FastifyReply,
    action: string,
  ): FastifyReply => {
    const f = formFields(req);
    const card = (f['card'] ?? 'ok') as CardChoice;
    if (!CARD_CHOICES.includes(card))
      throw new PageError(400, `card must be one of ${CARD_CHOICES.join(', ')}`);
    const email = f['buyer_email'] && f['buyer_email'] !== '' ? f['buyer_email'] : null;
    const { payment, redirect: target } = engine.pay(ref, card, email);
    if (payment.status === 'FAILED')
      return showCheckout(
        ref,
        reply,
        action,
        'Your card was declined (GENERIC_DECLINE). Try another card.',
        402,
      );
    if (target) return redirect(reply, target, 303);
    return sendHtml(
      reply,
      200,
      donePage(
        payment.status === 'COMPLETED' ? 'Payment complete' : 'Payment pending',
        payment.status === 'COMPLETED'
          ? 'Thank you. You can close this page.'
          : 'Your bank transfer is being processed.',
      ),
    );
  };
  app.get<{ Params: { code: string } }>('/u/:code', (req, reply) => {
    try {
      return showCheckout(req.params.code, reply, `/u/${req.params.code}`);
    } catch (err) {
      return pageError(reply, err);
    }
  });
  app.post<{ Params: { code: string } }>('/u/:code', (req, reply) => {
    try {
      return postCheckout(req.params.code, req, reply, `/u/${req.params.code}`);
    } catch (err) {
      return pageError(reply, err);
    }
  });
  app.get<{ Params: { merchant: string; id: string } }>('/merchant/:merchant/checkout/:id', (req, reply) => {
    try {
      return showCheckout(req.params.id, reply, req.url.split('?')[0] ?? '');
    } catch (err) {
      return pageError(reply, err);
    }
  });
  app.post<{ Params: { merchant: string; id: string } }>('/merchant/:merchant/checkout/:id', (req, reply) => {
    try {
      return postCheckout(req.params.id, req, reply, req.url.split('?')[0] ?? '');
    } catch (err) {
      return pageError(reply, err);
    }
  });
  app.get<{ Params: { id: string } }>('/receipt/preview/:id', (req, reply) => {
    const p = engine.payments.get(req.params.id);
    if (!p) return sendHtml(reply, 404, errorPage('Receipt', 'No such payment.'));
    return sendHtml(
      reply,
      200,
      donePage(`Receipt ${p.id.slice(0, 4)}`, `${p.status}: ${p.amount} ${p.currency}`),
    );
  });
}

/** The ticked `grant` checkboxes of the authorize form (repeated form fields, or a JSON array). */
function grantedFields(req: FastifyRequest): string[] {
  const b = rawBodyOf(req);
  if (b.kind === 'form') return new URLSearchParams(b.raw).getAll('grant');
  if (isObject(b.value)) {
    const g = b.value['grant'];
    if (Array.isArray(g)) return g.filter((x): x is string => typeof x === 'string');
    if (typeof g === 'string') return g.split(/[\s,]+/);
  }
  return [];
}
