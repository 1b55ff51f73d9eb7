import type { FastifyReply, FastifyRequest } from 'fastify';
import type { Logger } from '../../log/logger.js';
import type { Clock } from '../kit/clock.js';
import type { Faults } from '../kit/faults.js';
import { redirect, sendHtml } from '../kit/pages.js';
import {
  ApiServer,
  formFields,
  respond,
  type ApiCall,
  type CallBase,
  type ErrorContext,
  type HttpMethod,
  type Rendered,
} from '../kit/server.js';
import type { PayPalEngine } from './engine.js';
import { PayPalApiError, oauthError, v1Error, v2Error, type ErrorDetail } from './errors.js';
import { newAccessToken, newAppId, newDebugId } from './ids.js';
import { BUYERS, type Buyer, type EventRecord, type WebhookRecord } from './model.js';
import { approvalPage, donePage, messagePage, onboardingPage } from './pages.js';
import { merchantIntegrationJson } from './present.js';
import { OPERATIONS } from './spec/operations.generated.js';
import type { OperationSpec } from './spec/types.js';
import { checkRequest, type RequestParts } from './validate.js';
import type { WebhookHub } from './webhooks.js';

/**
 * The PayPal emulator's HTTP side on the kit's `ApiServer`: OAuth, the API routes (each tied to its PayPal
 * operationId, so the generated tables check it), `PayPal-Request-Id` idempotency, the hosted pages, the certificate
 * URL and the `/_emulator` control routes.
 */

export interface PayPalAuth {
  clientId: string;
}

export interface PayPalParams {
  op: OperationSpec | null;
  body: unknown;
  query: Record<string, string>;
}

type Call = ApiCall<PayPalAuth, PayPalParams>;

interface TokenRecord {
  clientId: string;
  /** Real (wall-clock) ms: the SDK computes expiry from Date.now(), so the emulator does too. */
  expiresAtReal: number;
}

/** API routes: `METHOD pattern` → PayPal operationId. */
const ROUTES: ReadonlyArray<readonly [HttpMethod, string, string]> = [
  ['POST', '/v2/checkout/orders', 'orders.create'],
  ['GET', '/v2/checkout/orders/:id', 'orders.get'],
  ['POST', '/v2/checkout/orders/:id/capture', 'orders.capture'],
  ['GET', '/v2/payments/captures/:capture_id', 'captures.get'],
  ['POST', '/v2/payments/captures/:capture_id/refund', 'captures.refund'],
  ['GET', '/v2/payments/refunds/:refund_id', 'refunds.get'],
  ['POST', '/v1/notifications/webhooks', 'webhooks.post'],
  ['GET', '/v1/notifications/webhooks', 'webhooks.list'],
  ['GET', '/v1/notifications/webhooks/:webhook_id', 'webhooks.get'],
  ['DELETE', '/v1/notifications/webhooks/:webhook_id', 'webhooks.delete'],
  ['POST', '/v1/notifications/verify-webhook-signature', 'verify-webhook-signature.post'],
  ['GET', '/v1/notifications/webhooks-events', 'webhooks-events.list'],
  ['GET', '/v1/notifications/webhooks-events/:event_id', 'webhooks-events.get'],
  ['POST', '/v1/notifications/webhooks-events/:event_id/resend', 'webhooks-events.resend'],
  ['POST', '/v2/customer/partner-referrals', 'partner-referrals.create'],
  ['GET', '/v2/customer/partner-referrals/:partner_referral_id', 'partner-referrals.read'],
  ['GET', '/v1/customer/partners/:partner_id/merchant-integrations', 'merchant-integration.find'],
  [
    'GET',
    '/v1/customer/partners/:partner_id/merchant-integrations/:merchant_id',
    'merchant-integration.status',
  ],
  ['GET', '/v1/customer/disputes', 'disputes.list'],
  ['GET', '/v1/customer/disputes/:id', 'disputes.get'],
];

/** Documented PayPal endpoints next to the emulated ones that the emulator does not implement (refused clearly). */
const NOT_EMULATED: ReadonlyArray<readonly [HttpMethod, string, string]> = [
  ['PATCH', '/v2/checkout/orders/:id', 'orders.patch'],
  ['POST', '/v2/checkout/orders/:id/authorize', 'orders.authorize'],
  ['POST', '/v2/checkout/orders/:id/confirm-payment-source', 'orders.confirm'],
  ['POST', '/v2/checkout/orders/:id/track', 'orders.track.create'],
  ['GET', '/v2/payments/authorizations/:authorization_id', 'authorizations.get'],
  ['POST', '/v2/payments/authorizations/:authorization_id/capture', 'authorizations.capture'],
  ['POST', '/v2/payments/authorizations/:authorization_id/void', 'authorizations.void'],
  ['PATCH', '/v1/notifications/webhooks/:webhook_id', 'webhooks.update'],
  ['POST', '/v1/notifications/simulate-event', 'simulate-event.post'],
  ['POST', '/v1/customer/partner-referrals', 'partner-referrals.create (v1)'],
];

/** Operations in the v1 error style (`VALIDATION_ERROR`, `information_link`). */
function styleOf(opId: string): 'v1' | 'v2' {
  return opId.startsWith('webhooks') ||
    opId.startsWith('verify-webhook') ||
    opId.startsWith('merchant-integration.')
    ? 'v1'
    : 'v2';
}

/**
 * Headers the pinned SDK (@paypal/paypal-server-sdk 2.5.0, generated from a newer spec) sends on operations where the
 * published 2024 spec does not list them; accepted as if listed.
 */
export const SDK_HEADER_SUPPLEMENT: Readonly<Record<string, readonly string[]>> = {
  'orders.create': ['paypal-auth-assertion'],
  'orders.get': ['paypal-auth-assertion'],
  'refunds.get': ['paypal-auth-assertion'],
};

/** PayPal headers refused where the operation does not define them (they would change what the call means). */
const SCOPED_HEADERS = ['paypal-auth-assertion', 'paypal-request-id'] as const;

export interface ServerDeps {
  clock: Clock;
  faults: Faults;
  logger: Logger;
  engine: PayPalEngine;
  hub: WebhookHub;
  tokenTtlSeconds: number;
  requestIdTtlMs: number;
}

export interface PayPalServer {
  api: ApiServer<PayPalAuth, PayPalParams>;
  /** Access tokens issued so far, by token (for tests). */
  tokens: Map<string, TokenRecord>;
}

function header(call: CallBase, name: string): string | null {
  return call.header(name);
}

function queryOf(raw: string): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [k, v] of new URLSearchParams(raw)) if (!(k in out)) out[k] = v;
  return out;
}

function headersOf(call: CallBase): Record<string, string | undefined> {
  const out: Record<string, string | undefined> = {};
  for (const [k, v] of Object.entries(call.request.headers))
    out[k.toLowerCase()] = Array.isArray(v) ? v[0] : typeof v === 'string' ? v : undefined;
  return out;
}

function obj(v: unknown): Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v) ? (v as Record<string, unknown>) : {};
}

function base64urlJson(part: string): Record<string, unknown> | null {
  try {
    const v = JSON.parse(Buffer.from(part, 'base64url').toString('utf8')) as unknown;
    return typeof v === 'object' && v !== null && !Array.isArray(v) ? (v as Record<string, unknown>) : null;
  } catch {
    return null;
  }
}

export function buildPayPalServer(deps: ServerDeps): PayPalServer {
  const { clock, engine, hub } = deps;
  const tokens = new Map<string, TokenRecord>();
  const opByRoute = new Map<string, OperationSpec>();
  for (const [method, pattern, id] of ROUTES) {
    const op = OPERATIONS[id];
    if (!op) throw new Error(`paypal emulator: no generated spec for ${id}`);
    opByRoute.set(`${method} ${pattern}`, op);
  }
  const opOf = (call: { method: string; route: string }): OperationSpec | null =>
    opByRoute.get(`${call.method} ${call.route}`) ?? null;

  const api = new ApiServer<PayPalAuth, PayPalParams>({
    name: 'paypal emulator',
    clock,
    faults: deps.faults,
    logger: deps.logger,
    requestId: newDebugId,
    responseHeaders: (call) => ({ 'paypal-debug-id': call.requestId }),
    accountOf: (call) => assertedMerchantLoose(call),
    authenticate: (call) => authenticate(call),
    params: (call) => ({
      op: opOf(call),
      body: call.body.value,
      query: queryOf(call.query),
    }),
    checkParams: (method, _route, params, call) => checkParams(method, params, call),
    idempotency: {
      keyOf: (call) => {
        const op = opOf(call);
        if (!op || call.method !== 'POST' || !op.headers['paypal-request-id']) return null;
        return header(call, 'paypal-request-id');
      },
      scopeOf: (call) => `${call.auth.clientId} ${call.method} ${call.path}`,
      // PayPal answers a reused PayPal-Request-Id with the earlier result whatever the body (it "returns the latest
      // status of the previous request"), so a different body is not an error.
      mismatch: () => null,
      inFlight: (_key, call) =>
        v2Error(409, call.params.op?.id ?? null, [{ issue: 'PREVIOUS_REQUEST_IN_PROGRESS' }]),
      // Only successes are kept: a refused request (e.g. ORDER_NOT_APPROVED before the buyer approved) can be retried
      // with the same PayPal-Request-Id once the cause is gone. (Emulator's choice; PayPal does not document it.)
      keep: (status) => status < 400,
      ttlMs: deps.requestIdTtlMs,
      replayHeaders: () => ({ 'x-emulator-replayed': 'true' }),
    },
    renderError: (err, ctx) => renderError(err, ctx),
    faultError: (fault) => (fault.kind === '429' ? v2Error(429, null, []) : v2Error(fault.status, null, [])),
    notFound: (method, path) =>
      v2Error(404, null, [
        {
          issue: 'INVALID_RESOURCE_ID',
          description: `Specified resource ID does not exist. (Emulator: no route ${method} ${path}.)`,
        },
      ]),
    invalidRequest: (message, param) =>
      v2Error(400, null, [
        {
          ...(param !== undefined ? { field: param } : {}),
          issue: 'INVALID_PARAMETER_VALUE',
          description: message,
        },
      ]),
    serialize: (body) => (body === undefined ? '' : JSON.stringify(body)),
  });

  // PayPal answers an idempotent replay of create/capture with 200 instead of 201 (spec: "A successful response to an
  // idempotent request returns the HTTP 200 OK status code"); the kit replays the stored status, so adjust it here.
  api.app.addHook('onSend', async (req, reply, payload) => {
    if (reply.getHeader('x-emulator-replayed') === undefined) return payload;
    reply.removeHeader('x-emulator-replayed');
    const route = req.routeOptions.url ?? '';
    if (
      reply.statusCode === 201 &&
      (route === '/v2/checkout/orders' || route === '/v2/checkout/orders/:id/capture')
    )
      reply.code(200);
    return payload;
  });

  function renderError(err: unknown, ctx: ErrorContext<PayPalAuth>): Rendered {
    if (err instanceof PayPalApiError) return { status: err.status, body: err.body(ctx.requestId) };
    if (ctx.kind === 'control')
      return {
        status: 400,
        body: { name: 'EMULATOR_ERROR', message: err instanceof Error ? err.message : String(err) },
      };
    deps.logger.error({ err }, 'paypal emulator: handler failed');
    return { status: 500, body: v2Error(500, null, []).body(ctx.requestId) };
  }

  // ---- auth ----

  function authenticate(call: CallBase): PayPalAuth {
    const auth = header(call, 'authorization');
    if (call.route === '/v1/oauth2/token') {
      const m = /^Basic\s+(\S+)$/i.exec(auth ?? '');
      const decoded = m?.[1] ? Buffer.from(m[1], 'base64').toString('utf8') : '';
      const sep = decoded.indexOf(':');
      const id = sep > 0 ? decoded.slice(0, sep) : '';
      const secret = sep > 0 ? decoded.slice(sep + 1) : '';
      if (!id || !secret) throw oauthError(401, 'invalid_client', 'Client Authentication failed');
      return { clientId: id };
    }
    if (!auth) throw v2Error(401, null, []);
    const m = /^Bearer\s+(\S+)$/i.exec(auth);
    if (!m?.[1]) throw oauthError(401, 'invalid_token', 'Token signature verification failed');
    const t = tokens.get(m[1]);
    if (!t || t.expiresAtReal <= Date.now())
      throw oauthError(401, 'invalid_token', 'Access Token not found in cache');
    return { clientId: t.clientId };
  }

  /** The merchant a PayPal-Auth-Assertion names (null without one); throws PayPal's errors for a bad one. */
  function assertedMerchant(call: Call): string | null {
    const raw = header(call, 'paypal-auth-assertion');
    if (raw === null) return null;
    const field = 'PayPal-Auth-Assertion';
    const parts = raw.split('.');
    const head = parts.length === 3 && parts[0] ? base64urlJson(parts[0]) : null;
    const payload = parts.length === 3 && parts[1] ? base64urlJson(parts[1]) : null;
    if (!head || !payload || typeof head['alg'] !== 'string')
      throw v2Error(400, call.params.op?.id ?? null, [
        {
          field,
          location: 'header',
          issue: 'INVALID_PARAMETER_SYNTAX',
          description:
            'The value of a field does not conform to the expected format. (Emulator: expected an unsigned JWT, base64url(header).base64url({iss, payer_id}).)',
        },
      ]);
    if (payload['iss'] !== call.auth.clientId)
      throw v2Error(401, call.params.op?.id ?? null, [
        {
          field,
          location: 'header',
          issue: 'INVALID_ACCOUNT_STATUS',
          description: 'Emulator: the assertion’s iss must be the caller’s client id.',
        },
      ]);
    const payerId = typeof payload['payer_id'] === 'string' ? payload['payer_id'] : null;
    const email = typeof payload['email'] === 'string' ? payload['email'] : null;
    const m =
      (payerId !== null ? engine.merchants.get(payerId) : undefined) ??
      (email !== null ? [...engine.merchants.values()].find((x) => x.email === email) : undefined);
    if (!m)
      throw v2Error(403, call.params.op?.id ?? null, [
        {
          field,
          location: 'header',
          issue: 'PERMISSION_DENIED',
          description:
            'You do not have permission to access or perform operations on this resource. (Emulator: the assertion names no seller onboarded by this partner.)',
        },
      ]);
    return m.merchantId;
  }

  /** For the request log only: the payer_id of an assertion, unchecked. */
  function assertedMerchantLoose(call: CallBase): string | null {
    const raw = header(call, 'paypal-auth-assertion');
    const payload = raw ? base64urlJson(raw.split('.')[1] ?? '') : null;
    return payload && typeof payload['payer_id'] === 'string' ? payload['payer_id'] : null;
  }

  // ---- strict checks ----

  function checkParams(
    method: HttpMethod,
    params: PayPalParams,
    call: CallBase & { auth: PayPalAuth },
  ): void {
    if (call.route === '/v1/oauth2/token') {
      const form = obj(call.body.kind === 'form' ? call.body.value : undefined);
      const grant = form['grant_type'];
      if (grant === undefined) throw oauthError(400, 'unsupported_grant_type', 'Grant Type is NULL');
      if (grant !== 'client_credentials')
        throw oauthError(400, 'unsupported_grant_type', `Unsupported grant type ${String(grant)}`);
      return;
    }
    const op = params.op;
    if (!op) return;
    const style = styleOf(op.id);
    const fail = (details: ErrorDetail[]): never => {
      if (style === 'v1')
        throw v1Error(
          400,
          'VALIDATION_ERROR',
          'Invalid data provided',
          op.id,
          details.map((d) => ({ field: d.field ?? '', issue: d.description ?? d.issue })),
        );
      throw v2Error(400, op.id, details);
    };
    const body = call.body;
    if (op.body !== null && (method === 'POST' || method === 'PATCH')) {
      if (body.kind === 'form' || body.kind === 'other')
        throw v2Error(415, op.id, [
          {
            issue: 'UNSUPPORTED_MEDIA_TYPE',
            description:
              'The server does not support the request payload’s media type. (Emulator: send application/json.)',
          },
        ]);
      if (body.error !== null)
        fail([
          {
            field: '/',
            location: 'body',
            issue: 'MALFORMED_REQUEST_JSON',
            description: 'The request JSON is not well formed.',
          },
        ]);
    }
    const headers = headersOf(call);
    const spec: OperationSpec = {
      ...op,
      headers: {
        ...op.headers,
        ...Object.fromEntries(
          (SDK_HEADER_SUPPLEMENT[op.id] ?? []).map((h) => [
            h,
            { required: false, schema: { t: 'string' as const } },
          ]),
        ),
      },
    };
    const extra: ErrorDetail[] = [];
    for (const h of SCOPED_HEADERS)
      if (headers[h] !== undefined && !spec.headers[h])
        extra.push({
          field: h,
          value: headers[h],
          location: 'header',
          issue: 'NOT_SUPPORTED',
          description: `This field is not currently supported. (Emulator: PayPal does not define ${h} on ${op.id}.)`,
        });
    const prefer = headers['prefer'];
    if (
      prefer !== undefined &&
      spec.headers['prefer'] &&
      prefer !== 'return=minimal' &&
      prefer !== 'return=representation'
    )
      extra.push({ field: 'Prefer', value: prefer, location: 'header', issue: 'INVALID_PARAMETER_VALUE' });
    const parts: RequestParts = {
      body: body.kind === 'none' ? undefined : body.value,
      headers,
      query: params.query,
    };
    const details = [...extra, ...checkRequest(spec, parts, style)];
    if (details.length > 0) fail(details);
  }

  const full = (call: Call): boolean => header(call, 'prefer') === 'return=representation';
  const json = (call: Call): Record<string, unknown> => obj(call.params.body);

  // ---- OAuth ----

  api.post('/v1/oauth2/token', (call) => {
    const token = newAccessToken();
    tokens.set(token, {
      clientId: call.auth.clientId,
      expiresAtReal: Date.now() + deps.tokenTtlSeconds * 1000,
    });
    return {
      scope:
        'https://uri.paypal.com/services/payments/futurepayments https://uri.paypal.com/services/payments/realtimepayment https://uri.paypal.com/services/payments/refund https://uri.paypal.com/services/payments/payment/authcapture https://uri.paypal.com/services/customer/partner-referrals https://uri.paypal.com/services/customer/merchant-integrations/read https://uri.paypal.com/services/disputes/read-seller https://uri.paypal.com/services/payments/partnerfee',
      access_token: token,
      token_type: 'Bearer',
      app_id: appIdFor(call.auth.clientId),
      expires_in: deps.tokenTtlSeconds,
      nonce: `${new Date(clock.now()).toISOString().replace(/\.\d{3}Z$/, 'Z')}${newDebugId()}`,
    };
  });
  const appIds = new Map<string, string>();
  const appIdFor = (clientId: string): string => {
    let id = appIds.get(clientId);
    if (!id) {
      id = newAppId();
      appIds.set(clientId, id);
    }
    return id;
  };

  // ---- Orders v2 ----

  api.post('/v2/checkout/orders', (call) => {
    const merchant = assertedMerchant(call);
    const body = json(call);
    if (merchant !== null)
      for (const [i, u] of (Array.isArray(body['purchase_units']) ? body['purchase_units'] : []).entries()) {
        const payee = obj(obj(u)['payee'])['merchant_id'];
        if (payee !== merchant)
          throw v2Error(403, 'orders.create', [
            {
              field: `/purchase_units/${i}/payee/merchant_id`,
              location: 'body',
              issue: 'PERMISSION_DENIED',
              description:
                'You do not have permission to access or perform operations on this resource. (Emulator: with PayPal-Auth-Assertion, every purchase unit must name the asserted seller as payee.merchant_id.)',
            },
          ]);
      }
    const order = engine.createOrder(body, {
      clientId: call.auth.clientId,
      partnerAttributionId: header(call, 'paypal-partner-attribution-id'),
      clientMetadataId: header(call, 'paypal-client-metadata-id'),
    });
    return respond(201, engine.orderJson(order, full(call) ? 'full' : 'minimal-create'));
  });

  api.get('/v2/checkout/orders/:id', (call) => {
    const merchant = assertedMerchant(call);
    const order = engine.getOrder(call.pathParams['id'] ?? '');
    if (merchant !== null && order.units.some((u) => u.payeeMerchantId !== merchant))
      throw v2Error(404, 'orders.get', [
        { field: 'order_id', value: order.id, location: 'path', issue: 'INVALID_RESOURCE_ID' },
      ]);
    const fields = call.params.query['fields'];
    const out = engine.orderJson(order, 'full');
    if (fields !== undefined && fields !== '' && !fields.split(',').every((f) => f === 'payment_source'))
      throw v2Error(400, 'orders.get', [
        { field: 'fields', value: fields, location: 'query', issue: 'INVALID_PARAMETER_VALUE' },
      ]);
    return out;
  });

  api.post('/v2/checkout/orders/:id/capture', (call) => {
    const order = engine.captureOrder(call.pathParams['id'] ?? '', assertedMerchant(call));
    return respond(201, engine.orderJson(order, full(call) ? 'full' : 'minimal-capture'));
  });

  // ---- Payments v2 ----

  api.get('/v2/payments/captures/:capture_id', (call) =>
    engine.captureJson(engine.getCapture(call.pathParams['capture_id'] ?? '')),
  );

  api.post('/v2/payments/captures/:capture_id/refund', (call) => {
    const refund = engine.refundCapture(
      call.pathParams['capture_id'] ?? '',
      json(call),
      assertedMerchant(call),
    );
    return respond(201, engine.refundJson(refund, full(call)));
  });

  api.get('/v2/payments/refunds/:refund_id', (call) => {
    const merchant = assertedMerchant(call);
    const refund = engine.getRefund(call.pathParams['refund_id'] ?? '');
    if (merchant !== null && engine.captures.get(refund.captureId)?.payeeMerchantId !== merchant)
      throw v2Error(404, 'refunds.get', [
        { field: 'refund_id', value: refund.id, location: 'path', issue: 'INVALID_RESOURCE_ID' },
      ]);
    return engine.refundJson(refund, true);
  });

  // ---- Webhooks v1 ----

  api.post('/v1/notifications/webhooks', (call) =>
    respond(201, hub.webhookJson(hub.createWebhook(json(call), call.auth.clientId))),
  );
  api.get('/v1/notifications/webhooks', (call) => ({
    webhooks: [...hub.webhooks.values()]
      .filter((w) => w.clientId === call.auth.clientId)
      .map((w) => hub.webhookJson(w)),
  }));
  api.get('/v1/notifications/webhooks/:webhook_id', (call) =>
    hub.webhookJson(
      hub.requireWebhook('webhooks.get', call.pathParams['webhook_id'] ?? '', call.auth.clientId),
    ),
  );
  api.delete('/v1/notifications/webhooks/:webhook_id', (call) => {
    hub.deleteWebhook(call.pathParams['webhook_id'] ?? '', call.auth.clientId);
    return respond(204, undefined);
  });

  api.post('/v1/notifications/verify-webhook-signature', (call) => ({
    verification_status: hub.verify(call.body.raw, json(call)),
  }));

  api.get('/v1/notifications/webhooks-events', (call) => {
    const q = call.params.query;
    const size = q['page_size'] !== undefined ? Number(q['page_size']) : 10;
    if (!Number.isInteger(size) || size < 1 || size > 300)
      throw v1Error(400, 'VALIDATION_ERROR', 'Invalid data provided', 'webhooks-events.list', [
        { field: 'page_size', issue: 'page_size must be an integer from 1 to 300.' },
      ]);
    const after = q['start_time'] !== undefined ? Date.parse(q['start_time']) : -Infinity;
    const before = q['end_time'] !== undefined ? Date.parse(q['end_time']) : Infinity;
    if (Number.isNaN(after) || Number.isNaN(before))
      throw v1Error(400, 'VALIDATION_ERROR', 'Invalid data provided', 'webhooks-events.list', [
        { field: Number.isNaN(after) ? 'start_time' : 'end_time', issue: 'Invalid date-time.' },
      ]);
    const events = hub.events
      .newestFirst()
      .filter(
        (e) =>
          e.createdAt >= after &&
          e.createdAt <= before &&
          (q['event_type'] === undefined || e.type === q['event_type']) &&
          (q['transaction_id'] === undefined || e.relatedIds.includes(q['transaction_id'])),
      )
      .slice(0, size)
      .map((e) => e.envelope);
    return { events, count: events.length, links: [] };
  });

  const requireEvent = (op: string, id: string): EventRecord => {
    const e = hub.events.get(id);
    if (!e)
      throw v1Error(404, 'INVALID_RESOURCE_ID', 'Resource id is invalid.', op, [
        { field: 'event_id', issue: 'Webhook event id not found.' },
      ]);
    return e;
  };
  api.get(
    '/v1/notifications/webhooks-events/:event_id',
    (call) => requireEvent('webhooks-events.get', call.pathParams['event_id'] ?? '').envelope,
  );
  api.post('/v1/notifications/webhooks-events/:event_id/resend', (call) => {
    const e = requireEvent('webhooks-events.resend', call.pathParams['event_id'] ?? '');
    const ids = json(call)['webhook_ids'];
    const only = Array.isArray(ids) ? ids.filter((x): x is string => typeof x === 'string') : null;
    for (const id of only ?? []) hub.requireWebhook('webhooks-events.resend', id, call.auth.clientId);
    hub.deliver(
      e,
      only ?? [...hub.webhooks.values()].filter((w) => w.clientId === call.auth.clientId).map((w) => w.id),
    );
    return respond(202, e.envelope);
  });

  // ---- Partner referrals v2, merchant integrations v1 ----

  api.post('/v2/customer/partner-referrals', (call) => {
    const r = engine.createReferral(json(call), call.auth.clientId);
    return respond(201, {
      links: [
        {
          href: `${engine.ctx.publicUrl()}/v2/customer/partner-referrals/${r.id}`,
          rel: 'self',
          method: 'GET',
          description: 'Read Referral Data shared by the Caller.',
        },
        {
          href: engine.onboardingUrl(r),
          rel: 'action_url',
          method: 'GET',
          description:
            'Target WEB REDIRECT URL for the next action. Customer should be redirected to this URL in the browser.',
        },
      ],
    });
  });

  api.get('/v2/customer/partner-referrals/:partner_referral_id', (call) => {
    const r = engine.getReferral(call.pathParams['partner_referral_id'] ?? '');
    return {
      partner_referral_id: r.id,
      submitter_payer_id: engine.ctx.partnerMerchantId,
      referral_data: r.data,
      links: [
        {
          href: `${engine.ctx.publicUrl()}/v2/customer/partner-referrals/${r.id}`,
          rel: 'self',
          method: 'GET',
        },
        { href: engine.onboardingUrl(r), rel: 'action_url', method: 'GET' },
      ],
    };
  });

  api.get('/v1/customer/partners/:partner_id/merchant-integrations', (call) => {
    const partnerId = call.pathParams['partner_id'] ?? '';
    const tracking = call.params.query['tracking_id'] ?? '';
    const m = [...engine.merchants.values()].find((x) => x.trackingId === tracking);
    if (!m || partnerId !== engine.ctx.partnerMerchantId)
      throw v1Error(
        404,
        'RESOURCE_NOT_FOUND',
        'The specified resource does not exist.',
        'merchant-integration.find',
        [{ field: 'tracking_id', issue: 'No seller onboarded by this partner has this tracking id.' }],
      );
    return {
      merchant_id: m.merchantId,
      tracking_id: tracking,
      links: [
        {
          href: `${engine.ctx.publicUrl()}/v1/customer/partners/${partnerId}/merchant-integrations/${m.merchantId}`,
          rel: 'read',
          method: 'GET',
          description: 'Main partner-merchant integration details',
        },
      ],
    };
  });

  api.get('/v1/customer/partners/:partner_id/merchant-integrations/:merchant_id', (call) => {
    const m = engine.requireMerchantForPartner(
      'merchant-integration.status',
      call.pathParams['partner_id'] ?? '',
      call.pathParams['merchant_id'] ?? '',
    );
    return merchantIntegrationJson(engine.ctx, m);
  });

  // ---- Disputes v1 ----

  api.get('/v1/customer/disputes', (call) => {
    const q = call.params.query;
    const size = q['page_size'] !== undefined ? Number(q['page_size']) : 10;
    if (!Number.isInteger(size) || size < 1 || size > 50)
      throw v2Error(400, 'disputes.list', [
        {
          field: 'page_size',
          value: q['page_size'] ?? '',
          location: 'query',
          issue: 'INVALID_PARAMETER_VALUE',
        },
      ]);
    const start = q['start_time'] !== undefined ? Date.parse(q['start_time']) : -Infinity;
    const items = engine.disputes
      .newestFirst()
      .filter(
        (d) =>
          d.createdAt >= start &&
          (q['disputed_transaction_id'] === undefined || d.captureId === q['disputed_transaction_id']) &&
          (q['dispute_state'] === undefined ||
            q['dispute_state'].split(',').includes(d.status === 'RESOLVED' ? 'RESOLVED' : 'OPEN_INQUIRIES')),
      )
      .slice(0, size)
      .map((d) => {
        const j = engine.disputeJson(d);
        return {
          dispute_id: j['dispute_id'],
          create_time: j['create_time'],
          update_time: j['update_time'],
          reason: j['reason'],
          status: j['status'],
          dispute_amount: j['dispute_amount'],
          dispute_life_cycle_stage: j['dispute_life_cycle_stage'],
          links: j['links'],
        };
      });
    return { items, links: [] };
  });

  api.get('/v1/customer/disputes/:id', (call) => {
    const d = engine.disputes.get(call.pathParams['id'] ?? '');
    if (!d)
      throw v2Error(404, 'disputes.get', [
        {
          field: 'dispute_id',
          value: call.pathParams['id'] ?? '',
          location: 'path',
          issue: 'INVALID_RESOURCE_ID',
        },
      ]);
    return engine.disputeJson(d);
  });

  // ---- documented, not emulated ----

  for (const [method, pattern, id] of NOT_EMULATED)
    api.route(method, pattern, () => {
      throw v2Error(400, null, [
        {
          issue: 'NOT_SUPPORTED',
          description: `This field is not currently supported. (Emulator: PayPal's ${id} (${method} ${pattern}) is not emulated.)`,
        },
      ]);
    });

  // ---- certificate (no auth, like PayPal's cert URL) ----

  api.app.get('/v1/notifications/certs/:certId', (req, reply) => {
    const { certId } = req.params as { certId: string };
    const url = hub.certUrl();
    if (!url.endsWith(`/${certId}`)) return reply.code(404).type('text/plain').send('Not Found');
    return reply.code(200).type('application/x-x509-ca-cert').send(hub.certPem);
  });

  // ---- hosted pages ----

  const tokenOf = (req: FastifyRequest): string => {
    const q = queryOf(req.url.split('?')[1] ?? '');
    return q['token'] ?? '';
  };

  api.app.get('/checkoutnow', (req, reply) => clock.run(() => approvalGet(req, reply)));
  api.app.post('/checkoutnow', (req, reply) => clock.run(() => approvalPost(req, reply)));

  function approvalGet(req: FastifyRequest, reply: FastifyReply): FastifyReply {
    const o = engine.orders.get(tokenOf(req));
    if (!o) return sendHtml(reply, 404, messagePage('Order not found', 'This PayPal order does not exist.'));
    if (o.status !== 'CREATED' && o.status !== 'PAYER_ACTION_REQUIRED')
      return sendHtml(reply, 409, messagePage('Nothing to approve', `This order is ${o.status}.`));
    return sendHtml(reply, 200, approvalPage(o, `/checkoutnow?token=${encodeURIComponent(o.id)}`));
  }

  function approvalPost(req: FastifyRequest, reply: FastifyReply): FastifyReply {
    const o = engine.orders.get(tokenOf(req));
    if (!o) return sendHtml(reply, 404, messagePage('Order not found', 'This PayPal order does not exist.'));
    const form = formFields(req);
    const action = form['action'] ?? 'approve';
    if (action === 'cancel') {
      const { redirect: to } = engine.cancelOrder(o.id);
      return to
        ? redirect(reply, to)
        : sendHtml(reply, 200, donePage('Payment cancelled', 'You cancelled; you can close this window.'));
    }
    if (action !== 'approve')
      return sendHtml(reply, 400, approvalPage(o, req.url, `Unknown action ${action}.`));
    const buyer = (form['buyer'] ?? 'normal') as Buyer;
    if (!BUYERS.includes(buyer))
      return sendHtml(reply, 400, approvalPage(o, req.url, `Unknown buyer ${buyer}.`));
    if (o.status !== 'CREATED' && o.status !== 'PAYER_ACTION_REQUIRED')
      return sendHtml(reply, 409, messagePage('Nothing to approve', `This order is ${o.status}.`));
    const { redirect: to } = engine.approveOrder(o.id, buyer);
    return to
      ? redirect(reply, to)
      : sendHtml(
          reply,
          200,
          donePage('Payment approved', 'You approved the payment; you can close this window.'),
        );
  }

  const referralOf = (req: FastifyRequest): string =>
    queryOf(req.url.split('?')[1] ?? '')['referralToken'] ?? '';

  api.app.get('/bizsignup/partner/entry', (req, reply) =>
    clock.run(() => {
      const r = engine.referrals.get(referralOf(req));
      if (!r) return sendHtml(reply, 404, messagePage('Link not valid', 'This sign-up link does not exist.'));
      const merchant = r.merchantId ? engine.merchants.get(r.merchantId) : undefined;
      return sendHtml(
        reply,
        200,
        onboardingPage(r, `/bizsignup/partner/entry?referralToken=${encodeURIComponent(r.id)}`, merchant),
      );
    }),
  );
  api.app.post('/bizsignup/partner/entry', (req, reply) =>
    clock.run(() => {
      const r = engine.referrals.get(referralOf(req));
      if (!r) return sendHtml(reply, 404, messagePage('Link not valid', 'This sign-up link does not exist.'));
      const form = formFields(req);
      const { redirect: to, merchant } = engine.completeOnboarding(r.id, {
        ...(form['form'] === '1'
          ? {
              emailConfirmed: form['email_confirmed'] === 'on',
              paymentsReceivable: form['payments_receivable'] === 'on',
            }
          : {}),
        ...(form['email'] ? { email: form['email'] } : {}),
      });
      return to
        ? redirect(reply, to)
        : sendHtml(
            reply,
            200,
            donePage('Account connected', `Your PayPal account ${merchant.merchantId} is connected.`),
          );
    }),
  );

  return { api, tokens };
}

export type { WebhookRecord };
