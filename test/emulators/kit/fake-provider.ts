import { createHmac } from 'node:crypto';
import { createServer, type IncomingHttpHeaders, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { silentLogger } from '../../../src/log/logger.js';
import {
  ApiServer,
  Clock,
  Faults,
  Table,
  Tasks,
  WebhookSender,
  formFields,
  htmlPage,
  postForm,
  randomString,
  redirect,
  respond,
  sendHtml,
  type CallBase,
  type ClockOptions,
  type FaultConfig,
  type IdempotencyPolicy,
  type ApiCall,
  type RetryPolicy,
} from '../../../src/emulators/kit/index.js';

/**
 * "Acme", a tiny provider built on the toolkit only, the way the PayPal and Square emulators are: its own error shape
 * (`{errors:[{code, detail, field}]}`), bearer-token auth, JSON bodies, ids like `THING_…`, an idempotency key either
 * in the body (`idempotency_key`, Square-style) or in a header (`Acme-Request-Id`, PayPal-style, replaying even when
 * the body differs), and webhooks signed with base64 HMAC-SHA256 over URL + body.
 */

export class AcmeError extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    detail: string,
    readonly field?: string,
  ) {
    super(detail);
  }
}

export interface Thing {
  id: string;
  name: string;
  created_at: string;
  /** Epoch seconds from the ambient clock (what `nowSeconds()`-style helpers read). */
  created: number;
}

export interface AcmeEndpoint {
  id: string;
  url: string;
  key: string;
  events: string[];
}

export interface AcmeAuth {
  token: string;
}

type Params = Record<string, unknown>;

export interface FakeOptions {
  clock?: ClockOptions;
  retry?: RetryPolicy;
  faults?: Partial<FaultConfig>;
  idempotency?: 'body' | 'header';
  /** Keys expire after this (clock ms). */
  idempotencyTtlMs?: number;
}

export interface Fake {
  url: string;
  clock: Clock;
  faults: Faults;
  tasks: Tasks;
  server: ApiServer<AcmeAuth, Params>;
  sender: WebhookSender<AcmeEndpoint>;
  things: Table<Thing>;
  endpoints: Table<AcmeEndpoint>;
  /** Every (method, routePattern, params) the strict-params hook saw. */
  checked: Array<[string, string, Params]>;
  /** Handler runs per route pattern. */
  runs: Map<string, number>;
  /** event id → settle(ok) results. */
  settled: Map<string, boolean[]>;
  /** Holds `POST /v2/slow` until released. */
  gate(): () => void;
  addEndpoint(url: string, events?: string[]): AcmeEndpoint;
  emit(type: string, data: object): string;
  close(): Promise<void>;
}

export function acmeSign(key: string, url: string, body: string): string {
  return createHmac('sha256', key)
    .update(url + body, 'utf8')
    .digest('base64');
}

export async function startFake(opts: FakeOptions = {}): Promise<Fake> {
  const clock = new Clock(opts.clock);
  const tasks = new Tasks(clock, () => undefined, 'acme emulator');
  const faults = new Faults(opts.faults);
  const things = new Table<Thing>();
  const endpoints = new Table<AcmeEndpoint>();
  const checked: Fake['checked'] = [];
  const runs = new Map<string, number>();
  const settled = new Map<string, boolean[]>();
  let gate: Promise<void> = Promise.resolve();

  const bodyKey: IdempotencyPolicy<ApiCall<AcmeAuth, Params>, CallBase> = {
    keyOf: (call) => {
      const v = call.body.value;
      if (call.method !== 'POST' || !v || typeof v !== 'object') return null;
      const k = (v as Record<string, unknown>).idempotency_key;
      return typeof k === 'string' ? k : null;
    },
    validate: (key) => {
      if (key.length === 0 || key.length > 45)
        throw new AcmeError(
          400,
          'INVALID_VALUE',
          'idempotency_key must be 1 to 45 characters',
          'idempotency_key',
        );
    },
    scopeOf: (call) => call.auth.token,
    mismatch: (m) =>
      new AcmeError(
        400,
        'IDEMPOTENCY_KEY_REUSED',
        m.sameEndpoint ? 'The key was used with other parameters' : `The key was used on ${m.priorEndpoint}`,
      ),
    inFlight: () => new AcmeError(409, 'CONFLICT', 'A request with this key is in progress'),
    keep: (status) => status < 500,
    ...(opts.idempotencyTtlMs !== undefined ? { ttlMs: opts.idempotencyTtlMs } : {}),
  };
  const headerKey: IdempotencyPolicy<ApiCall<AcmeAuth, Params>, CallBase> = {
    keyOf: (call) => (call.method === 'POST' ? call.header('acme-request-id') : null),
    scopeOf: (call) => call.auth.token,
    // Like PayPal: a reused id answers the first request's result, whatever the body.
    mismatch: () => null,
    inFlight: () => new AcmeError(409, 'CONFLICT', 'A request with this id is in progress'),
    replayHeaders: () => ({ 'acme-replayed': 'true' }),
  };

  const server = new ApiServer<AcmeAuth, Params>({
    name: 'acme emulator',
    clock,
    faults,
    logger: silentLogger,
    requestId: () => randomString(12),
    responseHeaders: (call) => ({ 'acme-debug-id': call.requestId }),
    accountOf: (call) => call.header('acme-merchant'),
    authenticate: (call) => {
      const auth = call.header('authorization');
      // Any token starting with `good` is valid (and is its own idempotency scope).
      if (!auth?.startsWith('Bearer good')) throw new AcmeError(401, 'UNAUTHORIZED', 'Bad token');
      return { token: auth.slice('Bearer '.length) };
    },
    params: (call) => {
      if (call.method === 'GET' || call.method === 'DELETE')
        return Object.fromEntries(new URLSearchParams(call.query));
      if (call.body.error) throw new AcmeError(400, 'INVALID_JSON', call.body.error);
      const v = call.body.value;
      return v && typeof v === 'object' && !Array.isArray(v) ? (v as Params) : {};
    },
    checkParams: (method, route, params) => {
      checked.push([method, route, params]);
      if ('bogus' in params) throw new AcmeError(400, 'UNKNOWN_FIELD', 'Unknown field bogus', 'bogus');
    },
    idempotency: opts.idempotency === 'header' ? headerKey : bodyKey,
    renderError: (err, ctx) => {
      const e =
        err instanceof AcmeError
          ? err
          : new AcmeError(500, 'INTERNAL_SERVER_ERROR', err instanceof Error ? err.message : String(err));
      return {
        status: e.status,
        body: { errors: [{ code: e.code, detail: e.message, ...(e.field ? { field: e.field } : {}) }] },
        headers: { 'acme-error-kind': ctx.kind },
      };
    },
    faultError: (f) =>
      f.kind === '5xx'
        ? new AcmeError(f.status, 'SERVICE_UNAVAILABLE', 'Injected')
        : new AcmeError(429, 'RATE_LIMITED', 'Injected'),
    notFound: (method, path) => new AcmeError(404, 'NOT_FOUND', `No route ${method} ${path}`),
    invalidRequest: (message, field) => new AcmeError(400, 'BAD_REQUEST', message, field),
  });

  const count = (route: string): void => {
    runs.set(route, (runs.get(route) ?? 0) + 1);
  };

  server.post('/v2/things', (call) => {
    count(call.route);
    const name = call.params.name;
    if (typeof name !== 'string')
      throw new AcmeError(400, 'MISSING_REQUIRED_PARAMETER', 'name is required', 'name');
    const now = Clock.current()?.now() ?? Date.now();
    const thing: Thing = {
      id: `THING_${randomString(10)}`,
      name,
      created_at: new Date(now).toISOString(),
      created: Math.floor(now / 1000),
    };
    things.set(thing.id, thing);
    return respond(201, { thing }, { location: `/v2/things/${thing.id}` });
  });
  server.get('/v2/things/:id', (call) => {
    count(call.route);
    return { thing: things.require(call.pathParams.id ?? '', (id) => new AcmeError(404, 'NOT_FOUND', id)) };
  });
  server.post('/v2/other', (call) => {
    count(call.route);
    return { ok: true };
  });
  server.post('/v2/slow', async (call) => {
    count(call.route);
    await gate;
    return { slow: true };
  });
  let flakyCalls = 0;
  server.post('/v2/flaky', (call) => {
    count(call.route);
    flakyCalls += 1;
    if (flakyCalls === 1) throw new AcmeError(503, 'SERVICE_UNAVAILABLE', 'try again');
    return { ok: flakyCalls };
  });
  server.post('/v2/crash', () => {
    throw new Error('boom');
  });

  // A hosted page: shows a thing and posts back approve/cancel.
  server.app.get<{ Params: { id: string } }>('/pay/:id', (req, reply) => {
    const thing = things.get(req.params.id);
    if (!thing) return sendHtml(reply, 404, htmlPage({ title: 'Not found', body: '<p>none</p>' }));
    return sendHtml(
      reply,
      200,
      htmlPage({
        title: `Pay ${thing.name}`,
        banner: 'Acme emulator — sandbox',
        body: postForm({
          action: `/pay/${thing.id}`,
          hidden: { thing: thing.id },
          buttons: [
            { label: 'Approve', name: 'choice', value: 'approve', testId: 'approve' },
            { label: 'Cancel', name: 'choice', value: 'cancel', testId: 'cancel' },
          ],
        }),
      }),
    );
  });
  server.app.post<{ Params: { id: string } }>('/pay/:id', (req, reply) => {
    const fields = formFields(req);
    const now = Clock.current()?.nowSeconds() ?? -1;
    return redirect(reply, `http://shop.test/return?choice=${fields.choice ?? ''}&at=${now}`);
  });

  const sender = new WebhookSender<AcmeEndpoint>({
    name: 'acme emulator',
    clock,
    faults,
    tasks,
    logger: silentLogger,
    retry: opts.retry ?? { attempts: 4, baseDelayMs: 1000 },
    timeoutMs: 2000,
    endpoint: (id) => endpoints.get(id),
    headers: { 'user-agent': 'Acme-Webhooks/1' },
    sign: ({ endpoint, body, url }) => ({ 'x-acme-signature': acmeSign(endpoint.key, url, body) }),
  });
  server.registerControlRoutes({ deliveries: () => sender.deliveries, idle: () => tasks.idle(3000) });

  const { url } = await server.listen(0, '127.0.0.1');

  return {
    url,
    clock,
    faults,
    tasks,
    server,
    sender,
    things,
    endpoints,
    checked,
    runs,
    settled,
    gate() {
      let release: () => void = () => undefined;
      gate = new Promise((resolve) => {
        release = resolve;
      });
      return release;
    },
    addEndpoint(target, events = ['*']) {
      const ep: AcmeEndpoint = { id: `EP_${randomString(8)}`, url: target, key: randomString(22), events };
      endpoints.set(ep.id, ep);
      return ep;
    },
    emit(type, data) {
      const eventId = `EVT_${randomString(10)}`;
      const event = { event_id: eventId, type, created_at: new Date(clock.now()).toISOString(), data };
      for (const ep of endpoints.values()) {
        if (!ep.events.includes('*') && !ep.events.includes(type)) continue;
        sender.send({
          eventId,
          type,
          account: null,
          endpointId: ep.id,
          body: () => JSON.stringify(event),
          settle: (ok) => settled.set(eventId, [...(settled.get(eventId) ?? []), ok]),
        });
      }
      return eventId;
    },
    async close() {
      sender.close();
      tasks.close();
      clock.close();
      await server.close();
    },
  };
}

export interface Hit {
  body: string;
  headers: IncomingHttpHeaders;
  url: string;
}

export interface Receiver {
  url: string;
  hits: Hit[];
  /** Status for the n-th (0-based) request; default 200. */
  respond: (n: number) => number;
  /** Event ids in arrival order (successful or not). */
  ids(): string[];
  close(): Promise<void>;
}

export async function startReceiver(): Promise<Receiver> {
  const hits: Hit[] = [];
  const r: Receiver = {
    url: '',
    hits,
    respond: () => 200,
    ids: () => hits.map((h) => (JSON.parse(h.body) as { event_id: string }).event_id),
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
  const server: Server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const n = hits.length;
      hits.push({ body: Buffer.concat(chunks).toString('utf8'), headers: req.headers, url: req.url ?? '' });
      res.writeHead(r.respond(n), { 'content-type': 'text/plain' });
      res.end('ok');
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', () => resolve()));
  r.url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/hooks`;
  return r;
}

export async function waitFor(cond: () => boolean, timeoutMs = 3000): Promise<void> {
  const start = Date.now();
  while (!cond()) {
    if (Date.now() - start > timeoutMs) throw new Error('waitFor: timed out');
    await new Promise((r) => setTimeout(r, 5));
  }
}

/** A JSON API call to the fake. */
export async function call(
  fake: Pick<Fake, 'url'>,
  method: string,
  path: string,
  body?: unknown,
  headers: Record<string, string> = {},
): Promise<{
  status: number;
  body: { errors?: Array<{ code: string; field?: string }> } & Record<string, unknown>;
  headers: Headers;
}> {
  const res = await fetch(`${fake.url}${path}`, {
    method,
    headers: {
      authorization: 'Bearer good',
      ...(body !== undefined ? { 'content-type': 'application/json' } : {}),
      ...headers,
    },
    ...(body !== undefined ? { body: JSON.stringify(body) } : {}),
  });
  const text = await res.text();
  return {
    status: res.status,
    body: text ? (JSON.parse(text) as Record<string, never>) : {},
    headers: res.headers,
  };
}
