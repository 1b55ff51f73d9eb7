import Fastify, {
  type FastifyError,
  type FastifyInstance,
  type FastifyReply,
  type FastifyRequest,
} from 'fastify';
import type { Logger } from '../../log/logger.js';
import type { Clock } from './clock.js';
import type { Faults } from './faults.js';
import { IdempotencyStore, type IdempotencyPolicy } from './idempotency.js';
import type { DeliveryRecord } from './webhooks.js';

/**
 * The HTTP side of an emulator: a Fastify app whose API routes run through one pipeline. For each API request:
 *
 * 1. response headers (`responseHeaders`: request id, version, echoes) and the request log entry;
 * 2. injected latency, then an injected API fault (timeout, 5xx, 429), answered before anything else;
 * 3. `authenticate` (the provider's auth rules);
 * 4. `params` (the provider's view of body or query), then `checkParams(method, routePattern, params)`;
 * 5. idempotency (the provider's `IdempotencyPolicy`): replay, mismatch, in flight, or record;
 * 6. the handler; whatever it throws is rendered by the provider's `renderError`.
 *
 * Control routes (`/_emulator/…`, no auth, JSON) and hosted pages share the app; every request runs with the
 * emulator's clock as the ambient clock (`Clock.current()`).
 */

export type HttpMethod = 'GET' | 'POST' | 'PUT' | 'PATCH' | 'DELETE';

/** A request body as received: the raw text (for signatures, fingerprints) and its parsed value. */
export class RawBody {
  constructor(
    readonly raw: string,
    /** `form`: application/x-www-form-urlencoded (parsed by the provider's `parseForm`); `json`; `other`. */
    readonly kind: 'form' | 'json' | 'other' | 'none',
    /** Parsed value: the form object, the JSON value, or undefined (unparseable JSON, other types). */
    readonly value: unknown,
    /** Why a JSON body could not be parsed. */
    readonly error: string | null = null,
  ) {}

  static readonly EMPTY = new RawBody('', 'none', undefined);
}

export function rawBodyOf(req: FastifyRequest): RawBody {
  return req.body instanceof RawBody ? req.body : RawBody.EMPTY;
}

/** One API request as seen by the emulator (for tests: retries, idempotency keys, injected faults). */
export interface RequestRecord {
  method: string;
  path: string;
  idempotencyKey: string | null;
  /** The account the request acts for, as the provider names it (Stripe: `Stripe-Account`). */
  account: string | null;
  status: number;
  fault: 'timeout' | '5xx' | '429' | null;
  replayed: boolean;
  /** Clock ms. */
  at: number;
}

/** What every hook sees of a request. */
export interface CallBase {
  method: HttpMethod;
  /** The route pattern as registered (`/v1/orders/:id`); '' for unknown routes. */
  route: string;
  /** URL path without the query. */
  path: string;
  /** Raw query string (without `?`). */
  query: string;
  pathParams: Record<string, string>;
  header(name: string): string | null;
  body: RawBody;
  requestId: string;
  request: FastifyRequest;
}

/** An authenticated API request with its parameters, as handlers see it. */
export interface ApiCall<A, P> extends CallBase {
  auth: A;
  params: P;
  /** The key the idempotency policy read (null without a policy or key). */
  idempotencyKey: string | null;
}

export interface ErrorContext<A> extends CallBase {
  /** Where the error happened: an API route, a control route, a hosted page, or an unknown URL. */
  kind: 'api' | 'control' | 'page' | 'not_found';
  /** Null until authentication succeeded. */
  auth: A | null;
}

/** A rendered response. */
export interface Rendered {
  status: number;
  body: unknown;
  headers?: Record<string, string>;
}

/** A handler's answer with a status other than 200, or extra headers. */
export class Reply {
  constructor(
    readonly status: number,
    readonly body: unknown,
    readonly headers: Record<string, string> = {},
  ) {}
}

export function respond(status: number, body: unknown, headers: Record<string, string> = {}): Reply {
  return new Reply(status, body, headers);
}

export type ApiHandlerFn<A, P> = (call: ApiCall<A, P>) => unknown;

export type ApiFaultKind = { kind: '5xx'; status: number } | { kind: '429' };

export interface ApiServerOptions<A, P> {
  /** Prefix of log messages, e.g. `paypal emulator`. */
  name?: string;
  clock: Clock;
  faults: Faults;
  logger: Logger;
  /** A new request id (Stripe `req_…`, PayPal's debug id). */
  requestId(): string;
  /** Parses an urlencoded body (Stripe: bracket notation); default: a flat object of the first values. */
  parseForm?(raw: string): unknown;
  /** Headers on every API response, set first (request id, version, echoed headers). */
  responseHeaders?(call: CallBase): Record<string, string>;
  /** The account a request acts for, for the request log. */
  accountOf?(call: CallBase): string | null;
  /** Authenticates an API request; throws the provider's error to refuse it. */
  authenticate(call: CallBase): A;
  /** The request's parameters as the provider's checks and handlers see them (body for writes, query for reads). */
  params(call: CallBase & { auth: A }): P;
  /** Strict parameter checking, after auth and before idempotency and the handler: throws to refuse. */
  checkParams?(method: HttpMethod, route: string, params: P, call: CallBase & { auth: A }): void;
  idempotency?: IdempotencyPolicy<ApiCall<A, P>, CallBase>;
  /** Renders anything thrown: the provider's errors, and anything else as its 500. */
  renderError(err: unknown, ctx: ErrorContext<A>): Rendered;
  /** The provider's error for an injected 5xx or 429. */
  faultError(fault: ApiFaultKind, call: CallBase): unknown;
  /** The provider's error for an unknown URL. */
  notFound(method: string, path: string): unknown;
  /** The provider's 400 (malformed control request, unparseable body). */
  invalidRequest(message: string, param?: string): unknown;
  /** Serializes JSON bodies; default `JSON.stringify`. */
  serialize?(body: unknown): string;
  /** Default 1 MiB. */
  bodyLimit?: number;
}

/** What a control route handler gets: path params and a JSON (or form) body. */
export interface ControlRequest {
  params: Record<string, string>;
  body: Record<string, unknown>;
  query: Record<string, string>;
  request: FastifyRequest;
}

function flatForm(raw: string): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [k, v] of new URLSearchParams(raw)) if (!(k in out)) out[k] = v;
  return out;
}

function headerValue(req: FastifyRequest, name: string): string | null {
  const v = req.headers[name.toLowerCase()];
  if (Array.isArray(v)) return v[0] ?? null;
  return v ?? null;
}

function isRecord(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

export class ApiServer<A, P> {
  readonly app: FastifyInstance;
  /** Every API request seen, in arrival order. */
  readonly requests: RequestRecord[] = [];
  readonly idempotency: IdempotencyStore;
  private readonly realTimers = new Set<NodeJS.Timeout>();
  private readonly name: string;
  private readonly serialize: (body: unknown) => string;

  constructor(private readonly opts: ApiServerOptions<A, P>) {
    this.name = opts.name ?? 'emulator';
    this.serialize = opts.serialize ?? ((b) => JSON.stringify(b));
    this.idempotency = new IdempotencyStore(opts.clock);
    const app = Fastify({
      logger: false,
      forceCloseConnections: true,
      bodyLimit: opts.bodyLimit ?? 1024 * 1024,
    });
    this.app = app;
    const parseForm = opts.parseForm ?? flatForm;
    app.removeAllContentTypeParsers();
    app.addContentTypeParser(
      'application/x-www-form-urlencoded',
      { parseAs: 'string' },
      (_req, body, done) => {
        const raw = typeof body === 'string' ? body : body.toString('utf8');
        done(null, new RawBody(raw, 'form', parseForm(raw)));
      },
    );
    app.addContentTypeParser('application/json', { parseAs: 'string' }, (_req, body, done) => {
      const raw = typeof body === 'string' ? body : body.toString('utf8');
      if (raw.trim() === '') return done(null, new RawBody(raw, 'json', undefined));
      try {
        done(null, new RawBody(raw, 'json', JSON.parse(raw) as unknown));
      } catch (err) {
        done(null, new RawBody(raw, 'json', undefined, err instanceof Error ? err.message : String(err)));
      }
    });
    app.addContentTypeParser('*', { parseAs: 'string' }, (_req, body, done) => {
      const raw = typeof body === 'string' ? body : body.toString('utf8');
      done(null, new RawBody(raw, 'other', undefined));
    });
    // Every handler runs with the emulator's clock as the ambient one (ids, `created`, scheduled work).
    app.addHook('preHandler', (_req, _reply, done) => opts.clock.run(done));

    app.setNotFoundHandler((req, reply) => {
      const call = this.callBase(req, '');
      reply.headers(this.opts.responseHeaders?.(call) ?? {});
      return this.sendRendered(
        reply,
        this.opts.renderError(this.opts.notFound(req.method, call.path), {
          ...call,
          kind: 'not_found',
          auth: null,
        }),
      );
    });
    app.setErrorHandler((err: FastifyError, req, reply) => {
      const call = this.callBase(req, req.routeOptions.url ?? '');
      const status = typeof err.statusCode === 'number' ? err.statusCode : 500;
      if (status >= 400 && status < 500) {
        const rendered = this.opts.renderError(this.opts.invalidRequest(err.message || 'Invalid request'), {
          ...call,
          kind: 'api',
          auth: null,
        });
        return this.sendRendered(reply, { ...rendered, status });
      }
      return this.sendRendered(reply, this.opts.renderError(err, { ...call, kind: 'api', auth: null }));
    });
  }

  // ---- API routes ----

  route(method: HttpMethod, url: string, handler: ApiHandlerFn<A, P>): void {
    this.app.route({ method, url, handler: this.wrap(method, handler) });
  }

  get(url: string, handler: ApiHandlerFn<A, P>): void {
    this.route('GET', url, handler);
  }

  post(url: string, handler: ApiHandlerFn<A, P>): void {
    this.route('POST', url, handler);
  }

  put(url: string, handler: ApiHandlerFn<A, P>): void {
    this.route('PUT', url, handler);
  }

  patch(url: string, handler: ApiHandlerFn<A, P>): void {
    this.route('PATCH', url, handler);
  }

  delete(url: string, handler: ApiHandlerFn<A, P>): void {
    this.route('DELETE', url, handler);
  }

  // ---- Control routes ----

  /** A test-helper route: no auth, JSON (or form) body, the handler's value as JSON, errors rendered by the provider. */
  control(method: HttpMethod, url: string, fn: (req: ControlRequest) => unknown): void {
    this.app.route({
      method,
      url,
      handler: async (req, reply) => {
        try {
          const out = await this.opts.clock.run(() =>
            fn({
              params: (req.params ?? {}) as Record<string, string>,
              body: controlBody(req),
              query: flatForm(req.url.split('?')[1] ?? ''),
              request: req,
            }),
          );
          if (out instanceof Reply) return this.sendRendered(reply, out);
          return this.sendJson(reply, 200, out);
        } catch (err) {
          const call = this.callBase(req, url);
          return this.sendRendered(
            reply,
            this.opts.renderError(err, { ...call, kind: 'control', auth: null }),
          );
        }
      },
    });
  }

  /**
   * The control routes every emulator has: `GET|POST|DELETE /_emulator/faults`, `GET /_emulator/requests`,
   * `GET|POST /_emulator/clock` (`{advanceMs}`), and, when given, `GET /_emulator/deliveries` and `POST /_emulator/idle`.
   */
  registerControlRoutes(
    extra: { deliveries?: () => readonly DeliveryRecord[]; idle?: () => Promise<void> } = {},
  ): void {
    const { faults, clock } = this.opts;
    this.control('GET', '/_emulator/faults', () => faults.get());
    this.control('POST', '/_emulator/faults', (req) => {
      faults.set(req.body);
      return faults.get();
    });
    this.control('DELETE', '/_emulator/faults', () => {
      faults.reset();
      return faults.get();
    });
    this.control('GET', '/_emulator/requests', () => ({ data: this.requests }));
    this.control('GET', '/_emulator/clock', () => clock.state());
    this.control('POST', '/_emulator/clock', (req) => {
      const v = req.body.advanceMs;
      const ms = typeof v === 'number' ? v : typeof v === 'string' && v.trim() !== '' ? Number(v) : NaN;
      if (!Number.isFinite(ms) || ms < 0)
        throw this.opts.invalidRequest('advanceMs must be a number of milliseconds ≥ 0', 'advanceMs');
      return clock.advance(ms);
    });
    const { deliveries, idle } = extra;
    if (deliveries) this.control('GET', '/_emulator/deliveries', () => ({ data: deliveries() }));
    if (idle)
      this.control('POST', '/_emulator/idle', async () => {
        await idle();
        return { idle: true };
      });
  }

  // ---- Lifecycle ----

  /** Listens and answers the base URL (`http://host:port`, IPv6 hosts bracketed) and the bound port. */
  async listen(port: number, host: string): Promise<{ url: string; port: number }> {
    await this.app.listen({ port, host });
    const address = this.app.server.address();
    const bound = typeof address === 'object' && address ? address.port : port;
    return { url: `http://${host.includes(':') ? `[${host}]` : host}:${bound}`, port: bound };
  }

  async close(): Promise<void> {
    for (const t of this.realTimers) clearTimeout(t);
    this.realTimers.clear();
    await this.app.close();
  }

  // ---- Helpers for providers ----

  sendJson(
    reply: FastifyReply,
    status: number,
    body: unknown,
    headers: Record<string, string> = {},
  ): FastifyReply {
    return reply
      .code(status)
      .headers(headers)
      .header('content-type', 'application/json')
      .send(this.serialize(body));
  }

  sendRendered(reply: FastifyReply, r: Rendered): FastifyReply {
    return this.sendJson(reply, r.status, r.body, r.headers);
  }

  /** Renders an error thrown by a hosted page or other non-API route the provider registers itself. */
  renderError(err: unknown, req: FastifyRequest, kind: ErrorContext<A>['kind'] = 'page'): Rendered {
    return this.opts.renderError(err, {
      ...this.callBase(req, req.routeOptions.url ?? ''),
      kind,
      auth: null,
    });
  }

  // ---- Pipeline ----

  private sleepReal(ms: number): Promise<void> {
    return new Promise((resolve) => {
      const t = setTimeout(() => {
        this.realTimers.delete(t);
        resolve();
      }, ms);
      this.realTimers.add(t);
    });
  }

  private callBase(req: FastifyRequest, route: string): CallBase {
    const [path = req.url, query = ''] = req.url.split('?');
    return {
      method: req.method.toUpperCase() as HttpMethod,
      route,
      path,
      query,
      pathParams: (req.params ?? {}) as Record<string, string>,
      header: (name) => headerValue(req, name),
      body: rawBodyOf(req),
      requestId: this.opts.requestId(),
      request: req,
    };
  }

  private wrap(method: HttpMethod, handler: ApiHandlerFn<A, P>) {
    return (req: FastifyRequest, reply: FastifyReply): Promise<FastifyReply | void> =>
      this.opts.clock.run(() => this.pipeline(method, handler, req, reply));
  }

  private async pipeline(
    method: HttpMethod,
    handler: ApiHandlerFn<A, P>,
    req: FastifyRequest,
    reply: FastifyReply,
  ): Promise<FastifyReply | void> {
    const { opts } = this;
    const base = this.callBase(req, req.routeOptions.url ?? '');
    const policy = opts.idempotency;
    const account = opts.accountOf?.(base) ?? null;
    let keyForLog: string | null = null;
    reply.headers(opts.responseHeaders?.(base) ?? {});
    const log = (status: number, fault: RequestRecord['fault'] = null, replayed = false): void => {
      this.requests.push({
        method,
        path: base.path,
        idempotencyKey: keyForLog,
        account,
        status,
        fault,
        replayed,
        at: opts.clock.now(),
      });
    };
    let auth: A | null = null;
    const fail = (err: unknown): FastifyReply => {
      const rendered = opts.renderError(err, { ...base, kind: 'api', auth });
      log(rendered.status);
      return this.sendRendered(reply, rendered);
    };

    // Latency and API faults: before anything else, never recorded for idempotency.
    const latency = opts.faults.latencyFor(base.path);
    if (latency > 0) await this.sleepReal(latency);
    const fault = opts.faults.takeApiFault(method, base.path);
    keyForLog = policy ? policy.keyOf(base) : null;
    if (fault?.kind === 'timeout') {
      log(0, 'timeout');
      reply.hijack();
      await this.sleepReal(fault.ms);
      req.raw.socket.destroy();
      return;
    }
    if (fault) {
      const rendered = opts.renderError(opts.faultError(fault, base), { ...base, kind: 'api', auth: null });
      log(rendered.status, fault.kind);
      return this.sendRendered(reply, rendered);
    }

    let call: ApiCall<A, P>;
    try {
      auth = opts.authenticate(base);
      const authed = { ...base, auth };
      const params = opts.params(authed);
      opts.checkParams?.(method, base.route, params, authed);
      call = { ...authed, params, idempotencyKey: keyForLog };
    } catch (err) {
      return fail(err);
    }

    let complete: ((status: number, body: unknown, headers?: Record<string, string>) => void) | null = null;
    if (policy && keyForLog !== null) {
      const key = keyForLog;
      try {
        policy.validate?.(key, call);
      } catch (err) {
        return fail(err);
      }
      const decision = this.idempotency.begin(
        policy.scopeOf(call),
        key,
        {
          endpoint: policy.endpointOf?.(call) ?? `${method} ${base.path}`,
          fingerprint: policy.fingerprintOf?.(call) ?? base.body.raw,
          requestId: base.requestId,
        },
        {
          ...(policy.ttlMs !== undefined ? { ttlMs: policy.ttlMs } : {}),
          ...(policy.keep ? { keep: (s: number) => policy.keep?.(s) ?? true } : {}),
        },
      );
      if (decision.kind === 'in_flight') return fail(policy.inFlight(key, call));
      let replay = decision.kind === 'replay' ? decision.entry : null;
      if (decision.kind === 'mismatch') {
        const err = policy.mismatch(decision.info, call);
        if (err !== null && err !== undefined) return fail(err);
        if (decision.entry.inFlight) return fail(policy.inFlight(key, call));
        replay = decision.entry;
      }
      if (replay) {
        log(replay.status, null, true);
        return this.sendJson(reply, replay.status, replay.body, {
          ...replay.headers,
          ...policy.replayHeaders?.(replay, call),
        });
      }
      if (decision.kind === 'proceed') complete = decision.complete;
    }

    let rendered: Rendered;
    try {
      const out = await handler(call);
      rendered =
        out instanceof Reply
          ? { status: out.status, body: out.body, headers: out.headers }
          : { status: 200, body: out };
    } catch (err) {
      rendered = opts.renderError(err, { ...call, kind: 'api' });
    }
    complete?.(rendered.status, rendered.body, rendered.headers ?? {});
    log(rendered.status);
    return this.sendRendered(reply, rendered);
  }
}

/** The body of a control route: the JSON object, or the parsed form. */
export function controlBody(req: FastifyRequest): Record<string, unknown> {
  const b = rawBodyOf(req);
  return isRecord(b.value) ? b.value : {};
}

/** Flat string fields of a posted form (or JSON object), e.g. for hosted pages. */
export function formFields(req: FastifyRequest): Record<string, string> {
  const b = rawBodyOf(req);
  if (b.kind === 'form') return flatForm(b.raw);
  const out: Record<string, string> = {};
  if (isRecord(b.value))
    for (const [k, v] of Object.entries(b.value))
      if (v !== undefined && v !== null) out[k] = typeof v === 'object' ? JSON.stringify(v) : String(v);
  return out;
}
