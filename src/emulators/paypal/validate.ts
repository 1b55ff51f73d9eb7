import type { ErrorDetail } from './errors.js';
import type { FieldNode, OperationSpec, StringNode } from './spec/types.js';

/**
 * Strict request checking against the tables generated from PayPal's OpenAPI files: every body field, header and
 * query parameter is checked against the operation's spec. What PayPal documents but the emulator does not implement,
 * and what PayPal does not document at all, are both refused (400 `INVALID_REQUEST`, issue `NOT_SUPPORTED`, naming
 * the field), never silently ignored.
 *
 * Issue names are PayPal's (spec `400` catalogs): MISSING_REQUIRED_PARAMETER, INVALID_PARAMETER_SYNTAX (wrong type,
 * pattern, malformed URL or date), INVALID_PARAMETER_VALUE (value outside the enum or range), INVALID_STRING_LENGTH,
 * INVALID_ARRAY_MIN_ITEMS / INVALID_ARRAY_MAX_ITEMS, NOT_SUPPORTED. PayPal documents no issue for an unknown field;
 * the emulator's choice is NOT_SUPPORTED ("This field is not currently supported.") with a description that says
 * which case it is.
 */

const MAX_DETAILS = 10;

/** Headers PayPal defines that the emulator refuses wherever they appear (sandbox-only negative testing). */
const REFUSED_HEADERS: Readonly<Record<string, string>> = {
  'paypal-mock-response':
    'This field is not currently supported. (Emulator: PayPal-Mock-Response is sandbox negative testing; use the emulator’s buyers and /_emulator controls instead.)',
};

export function pointer(path: ReadonlyArray<string | number>): string {
  return `/${path.map((p) => String(p).replace(/~/g, '~0').replace(/\//g, '~1')).join('/')}`;
}

/** `event_types[0].name`, as the v1 APIs name fields. */
export function dotted(path: ReadonlyArray<string | number>): string {
  let out = '';
  for (const p of path) out += typeof p === 'number' ? `[${p}]` : out === '' ? p : `.${p}`;
  return out;
}

function scalar(v: unknown): string | undefined {
  if (typeof v === 'string') return v.length > 200 ? `${v.slice(0, 200)}…` : v;
  if (typeof v === 'number' || typeof v === 'boolean') return String(v);
  if (v === null) return 'null';
  return undefined;
}

function isPlainObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

const DATE_TIME =
  /^\d{4}-(0[1-9]|1[0-2])-(0[1-9]|[12]\d|3[01])[Tt]([01]\d|2[0-3]):[0-5]\d:([0-5]\d|60)(\.\d+)?([Zz]|[+-]([01]\d|2[0-3]):[0-5]\d)$/;

function validUri(v: string): boolean {
  try {
    const u = new URL(v);
    return u.protocol === 'http:' || u.protocol === 'https:';
  } catch {
    return false;
  }
}

class Checker {
  readonly details: ErrorDetail[] = [];
  constructor(
    private readonly operation: string,
    private readonly field: (path: ReadonlyArray<string | number>) => string,
  ) {}

  private add(
    path: ReadonlyArray<string | number>,
    issue: string,
    value: unknown,
    description?: string,
  ): void {
    if (this.details.length >= MAX_DETAILS) return;
    const d: ErrorDetail = { field: this.field(path), location: 'body', issue };
    const s = scalar(value);
    if (s !== undefined) d.value = s;
    if (description) d.description = description;
    this.details.push(d);
  }

  check(node: FieldNode, value: unknown, path: Array<string | number>): void {
    switch (node.t) {
      case 'any':
        return;
      case 'unsupported': {
        const where = `${this.field(path)} (${this.operation})`;
        this.add(
          path,
          'NOT_SUPPORTED',
          value,
          node.readOnly
            ? `This field is not currently supported. (Emulator: PayPal documents ${where} as read-only; it cannot be sent.)`
            : `This field is not currently supported. (Emulator: PayPal documents ${where} but the emulator does not implement it.)`,
        );
        return;
      }
      case 'object': {
        if (!isPlainObject(value)) {
          this.add(path, 'INVALID_PARAMETER_SYNTAX', value);
          return;
        }
        for (const [k, v] of Object.entries(value)) {
          const child = node.props[k];
          if (!child) {
            this.add(
              [...path, k],
              'NOT_SUPPORTED',
              v,
              `This field is not currently supported. (Emulator: ${this.field([...path, k])} is not in PayPal's published schema for ${this.operation}.)`,
            );
            continue;
          }
          this.check(child, v, [...path, k]);
        }
        for (const r of node.required ?? [])
          if (value[r] === undefined) this.add([...path, r], 'MISSING_REQUIRED_PARAMETER', undefined);
        return;
      }
      case 'array': {
        if (!Array.isArray(value)) {
          this.add(path, 'INVALID_PARAMETER_SYNTAX', value);
          return;
        }
        if (node.min !== undefined && value.length < node.min)
          this.add(path, 'INVALID_ARRAY_MIN_ITEMS', value.length);
        if (node.max !== undefined && value.length > node.max)
          this.add(path, 'INVALID_ARRAY_MAX_ITEMS', value.length);
        value.forEach((item, i) => this.check(node.items, item, [...path, i]));
        return;
      }
      case 'string': {
        const problem = stringProblem(node, value);
        if (problem) this.add(path, problem, value);
        return;
      }
      case 'integer':
      case 'number': {
        if (
          typeof value !== 'number' ||
          !Number.isFinite(value) ||
          (node.t === 'integer' && !Number.isInteger(value))
        )
          this.add(path, 'INVALID_PARAMETER_SYNTAX', value);
        else if ((node.min !== undefined && value < node.min) || (node.max !== undefined && value > node.max))
          this.add(path, 'INVALID_PARAMETER_VALUE', value);
        return;
      }
      case 'boolean':
        if (typeof value !== 'boolean') this.add(path, 'INVALID_PARAMETER_SYNTAX', value);
        return;
    }
  }
}

/** The issue a string value raises against its spec, or null. */
export function stringProblem(node: StringNode, value: unknown): string | null {
  if (typeof value !== 'string') return 'INVALID_PARAMETER_SYNTAX';
  if (
    (node.min !== undefined && value.length < node.min) ||
    (node.max !== undefined && value.length > node.max)
  )
    return 'INVALID_STRING_LENGTH';
  if (node.pattern !== undefined && !new RegExp(node.pattern).test(value)) return 'INVALID_PARAMETER_SYNTAX';
  if (node.format === 'uri' && !validUri(value)) return 'INVALID_PARAMETER_SYNTAX';
  if (node.format === 'date-time' && !DATE_TIME.test(value)) return 'INVALID_PARAMETER_SYNTAX';
  if (node.enum && !node.enum.includes(value)) return 'INVALID_PARAMETER_VALUE';
  return null;
}

export interface RequestParts {
  /** Parsed JSON body (undefined when there was none). */
  body: unknown;
  /** Lower-case header names. */
  headers: Readonly<Record<string, string | undefined>>;
  query: Readonly<Record<string, string>>;
}

/** Checks one request against its operation's spec; returns PayPal error details (empty when valid). */
export function checkRequest(op: OperationSpec, req: RequestParts, style: 'v2' | 'v1' = 'v2'): ErrorDetail[] {
  const checker = new Checker(op.id, style === 'v1' ? dotted : pointer);
  const details = checker.details;
  for (const [name, description] of Object.entries(REFUSED_HEADERS))
    if (req.headers[name] !== undefined)
      details.push({
        field: name,
        value: req.headers[name],
        location: 'header',
        issue: 'NOT_SUPPORTED',
        description,
      });
  for (const [name, spec] of Object.entries(op.headers)) {
    const v = req.headers[name];
    if (v === undefined) {
      if (spec.required)
        details.push({ field: name, location: 'header', issue: 'MISSING_REQUIRED_PARAMETER' });
      continue;
    }
    const problem = stringProblem(spec.schema, v);
    if (problem) details.push({ field: name, value: v, location: 'header', issue: problem });
  }
  for (const [name, v] of Object.entries(req.query)) {
    const spec = op.query[name];
    if (!spec) {
      details.push({
        field: name,
        value: v,
        location: 'query',
        issue: 'NOT_SUPPORTED',
        description: `This field is not currently supported. (Emulator: ${name} is not a query parameter of ${op.id}.)`,
      });
      continue;
    }
    const problem = stringProblem(spec.schema, v);
    if (problem) details.push({ field: name, value: v, location: 'query', issue: problem });
  }
  for (const [name, spec] of Object.entries(op.query))
    if (spec.required && req.query[name] === undefined)
      details.push({ field: name, location: 'query', issue: 'MISSING_REQUIRED_PARAMETER' });
  if (op.body === null) {
    if (req.body !== undefined)
      details.push({
        field: '/',
        location: 'body',
        issue: 'NOT_SUPPORTED',
        description: `This field is not currently supported. (Emulator: ${op.id} takes no request body.)`,
      });
  } else if (req.body === undefined) {
    if (op.bodyRequired) details.push({ field: '/', location: 'body', issue: 'MISSING_REQUIRED_PARAMETER' });
  } else {
    checker.check(op.body, req.body, []);
  }
  return details.slice(0, MAX_DETAILS);
}
