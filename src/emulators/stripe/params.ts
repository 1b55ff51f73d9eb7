import { ApiError, invalid, requiredParam } from './errors.js';
import type { FormObject, FormValue } from './form.js';
import { ENDPOINTS } from './spec/params.generated.js';
import { supportOf, type Support } from './spec/support.js';
import type { ParamSpec } from './spec/types.js';

/*
 * Strict parameter checking (issue 10). The parameter trees come from the `stripe` SDK's typings
 * (spec/params.generated.ts), what the emulator implements from spec/support.ts.
 *
 * Stripe's wording and codes, as found in public reports of real API answers (searched through the `search` tool):
 * - unknown: `parameter_unknown`, "Received unknown parameter: trial_period_days" (vizhub-studio/vizhub#333, the raw
 *   error with code and message; stripe/stripe-node#429, #1323);
 * - integer: `parameter_invalid_integer`, "Invalid integer: 1.0038e+06", param `expected_amount` (stripe/stripe-cli#585;
 *   also "Invalid integer: NaN" in stripe-samples/react-elements-netlify-serverless#4, "Invalid integer: 9175.2" in
 *   Debetux/opencart-stripe#10);
 * - boolean: no code, "Invalid boolean: True", param `closed` (stripe/stripe-python#487: `error_code=None`);
 * - enum: no code, "Invalid reason: must be one of duplicate, fraudulent, or requested_by_customer" and
 *   "Invalid mode: must be one of payment, setup, or subscription" (recorded answers quoted by several emulators and
 *   integrations found with find_string);
 * - empty string: `parameter_invalid_empty`, "You passed an empty string for 'x'. We assume empty values are an attempt
 *   to unset a parameter; however 'x' cannot be unset. You should remove 'x' from your request or supply a non-empty
 *   value." (a user's log with the code, message and param for
 *   `payment_method_data[billing_details][address][country]`, and many quotes of the message);
 * - array: no code, "Invalid array", param `line_items` (a Stripe log quoted in a project's notes);
 * - string given a hash: no code, "Invalid string: {…}" with param (lukec/stripe-perl#137);
 * - missing: `parameter_missing`, "Missing required param: x." (errors.ts `requiredParam`).
 * The codes are the ones the SDK's own `Code` union lists (parameter_invalid_empty, parameter_invalid_integer,
 * parameter_missing, parameter_unknown, …). Not found and chosen here: "Invalid object" for a string given where an
 * object is expected (message from the issue brief), "Invalid decimal: x" for floats and decimal strings, and the
 * emulator's own `parameter_unsupported` for documented parameters it does not implement.
 */

type FormItem = FormValue;

interface Problems {
  unknown: ApiError | null;
  invalid: ApiError | null;
  missing: ApiError | null;
  unsupported: ApiError | null;
}

const isObject = (v: FormItem): v is FormObject => typeof v === 'object' && !Array.isArray(v);

/** Renders a decoded form value the way Stripe's messages show it: `{:a=>"b"}`, `["a", "b"]`, `abc`. */
function inspect(v: FormItem): string {
  if (typeof v === 'string') return v;
  const show = (x: FormItem): string =>
    typeof x === 'string'
      ? JSON.stringify(x)
      : Array.isArray(x)
        ? `[${x.map(show).join(', ')}]`
        : `{${Object.entries(x)
            .map(([k, y]) => `:${k}=>${show(y)}`)
            .join(', ')}}`;
  return show(v);
}

/** "a, b, or c" as Stripe lists enum values. */
function oneOf(values: readonly string[]): string {
  if (values.length <= 1) return values.join('');
  if (values.length === 2) return `${values[0]} or ${values[1]}`;
  return `${values.slice(0, -1).join(', ')}, or ${values[values.length - 1]}`;
}

export function unknownParam(path: string): ApiError {
  return invalid(`Received unknown parameter: ${path}`, path, 'parameter_unknown');
}

export function emptyParam(path: string): ApiError {
  return invalid(
    `You passed an empty string for '${path}'. We assume empty values are an attempt to unset a parameter; however '${path}' cannot be unset. You should remove '${path}' from your request or supply a non-empty value.`,
    path,
    'parameter_invalid_empty',
  );
}

export function unsupportedParam(path: string): ApiError {
  return invalid(
    `Received parameter '${path}', which Stripe documents but the Settle emulator does not emulate.`,
    path,
    'parameter_unsupported',
  );
}

const INTEGER = /^-?\d+$/;
const DECIMAL = /^-?(\d+(\.\d*)?|\.\d+)([eE][-+]?\d+)?$/;

/** The error for `value` against a scalar kind, or null when it fits. */
function scalarError(spec: ParamSpec, value: FormItem, path: string): ApiError | null {
  switch (spec.kind) {
    case 'string':
      return typeof value === 'string' ? null : invalid(`Invalid string: ${inspect(value)}`, path);
    case 'enum':
      if (typeof value !== 'string') return invalid(`Invalid string: ${inspect(value)}`, path);
      return spec.values.includes(value)
        ? null
        : invalid(`Invalid ${path}: must be one of ${oneOf(spec.values)}`, path);
    case 'integer':
      return typeof value === 'string' && INTEGER.test(value)
        ? null
        : invalid(`Invalid integer: ${inspect(value)}`, path, 'parameter_invalid_integer');
    case 'number':
    case 'decimal':
      return typeof value === 'string' && DECIMAL.test(value)
        ? null
        : invalid(`Invalid decimal: ${inspect(value)}`, path);
    case 'boolean':
      return value === 'true' || value === 'false'
        ? null
        : invalid(`Invalid boolean: ${inspect(value)}`, path);
    default:
      return null;
  }
}

const SCALARS = new Set(['string', 'enum', 'integer', 'number', 'decimal', 'boolean']);

class Checker {
  readonly problems: Problems = { unknown: null, invalid: null, missing: null, unsupported: null };
  constructor(private readonly endpoint: string) {}

  private report(kind: keyof Problems, err: ApiError): void {
    this.problems[kind] ??= err;
  }

  /** Support of a child: within a fully or non-implemented parent it inherits; within a container it is looked up. */
  private childSupport(parent: Support, pattern: string, path: string): Support {
    if (parent !== 'partial') return parent;
    const s = supportOf(this.endpoint, pattern);
    if (s === 'none') this.report('unsupported', unsupportedParam(path));
    return s;
  }

  /** Checks the fields of an object parameter (or of the whole request). */
  fields(
    fields: Readonly<Record<string, ParamSpec>>,
    value: FormObject,
    prefix: string,
    pattern: string,
    support: Support,
  ): void {
    for (const [key, child] of Object.entries(value)) {
      const path = prefix === '' ? key : `${prefix}[${key}]`;
      const childPattern = pattern === '' ? key : `${pattern}[${key}]`;
      const spec = Object.hasOwn(fields, key) ? fields[key] : undefined;
      if (!spec) {
        this.report('unknown', unknownParam(path));
        continue;
      }
      this.value(spec, child, path, childPattern, this.childSupport(support, childPattern, path));
    }
    for (const [key, spec] of Object.entries(fields)) {
      if (spec.required && !Object.hasOwn(value, key))
        this.report('missing', requiredParam(prefix === '' ? key : `${prefix}[${key}]`));
    }
  }

  value(spec: ParamSpec, value: FormItem, path: string, pattern: string, support: Support): void {
    if (value === '') {
      if (!spec.emptyable) this.report('invalid', emptyParam(path));
      return;
    }
    switch (spec.kind) {
      case 'object': {
        if (!isObject(value)) {
          this.report('invalid', invalid('Invalid object', path));
          return;
        }
        this.fields(spec.fields, value, path, pattern, support);
        return;
      }
      case 'array': {
        if (!Array.isArray(value)) {
          this.report('invalid', invalid('Invalid array', path));
          return;
        }
        const itemPattern = `${pattern}[]`;
        const itemSupport = this.childSupport(support, itemPattern, path);
        value.forEach((item, i) => this.value(spec.items, item, `${path}[${i}]`, itemPattern, itemSupport));
        return;
      }
      case 'metadata':
      case 'map': {
        // form.ts turns all-numeric keys (`metadata[0]=x`) into a list: read it back as keys.
        const entries = Array.isArray(value)
          ? value.map((v, i) => [String(i), v] as const)
          : isObject(value)
            ? Object.entries(value)
            : null;
        if (!entries) {
          this.report('invalid', invalid('Invalid object', path));
          return;
        }
        for (const [k, v] of entries) {
          const entryPath = `${path}[${k}]`;
          if (spec.kind === 'metadata') {
            if (typeof v !== 'string')
              this.report('invalid', invalid(`Invalid string: ${inspect(v)}`, entryPath));
          } else this.value(spec.values, v, entryPath, `${pattern}[${k}]`, support);
        }
        return;
      }
      case 'union': {
        const shape = typeof value === 'string' ? 'scalar' : Array.isArray(value) ? 'array' : 'object';
        const fits = spec.anyOf.filter((alt) =>
          shape === 'scalar'
            ? SCALARS.has(alt.kind)
            : shape === 'array'
              ? alt.kind === 'array'
              : alt.kind === 'object' || alt.kind === 'metadata' || alt.kind === 'map',
        );
        const alt = fits[0];
        if (!alt) {
          // No alternative of this shape: report it against the first one ("Invalid object", "Invalid integer: …").
          const first = spec.anyOf[0];
          if (first) this.value(first, value, path, pattern, support);
          return;
        }
        if (shape !== 'scalar') {
          this.value(alt, value, path, pattern, support);
          return;
        }
        const errors = fits.map((a) => scalarError(a, value, path));
        if (errors.includes(null)) return;
        const err = errors[0];
        if (err) this.report('invalid', err);
        return;
      }
      default: {
        const err = scalarError(spec, value, path);
        if (err) this.report('invalid', err);
      }
    }
  }
}

/**
 * Strict parameter checking of one API request (issue 10): throws the ApiError Stripe would answer for an unknown,
 * invalid or missing parameter, or the emulator's `parameter_unsupported` for a documented parameter it does not
 * implement. `route` is the route pattern as registered (`/v1/checkout/sessions/:id`); `params` the decoded form body
 * (POST) or query string (GET, DELETE).
 */
export function checkRequest(method: string, route: string, params: FormObject): void {
  const endpoint = `${method.toUpperCase()} ${route}`;
  const spec = ENDPOINTS[endpoint];
  if (!spec)
    throw new ApiError(
      500,
      'api_error',
      `The Settle emulator has no parameter table for ${endpoint}: run \`npm run emulator:spec\`.`,
    );
  const checker = new Checker(endpoint);
  checker.fields(spec.params, params, '', '', 'partial');
  const { unknown, invalid: bad, missing, unsupported } = checker.problems;
  const first = unknown ?? bad ?? missing ?? unsupported;
  if (first) throw first;
}
