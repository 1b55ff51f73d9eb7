import { SquareApiError, badRequest, notEmulated, type SquareErrorEntry } from './errors.js';
import { ENUMS } from './spec/operations.generated.js';
import type { FieldNode, ObjectNode, OperationSpec } from './spec/types.js';

/**
 * Strict request checking against the tables generated from Square's OpenAPI document: every body field and query
 * parameter must be one Square documents for the operation; documented ones the emulator does not implement are
 * refused (`NOT_IMPLEMENTED`), as are values of the wrong type, outside Square's enums or length limits, and missing
 * required fields. All problems are reported at once, in document order, as Square reports several `errors`.
 *
 * Codes are Square's (`ErrorCode`); the `detail` texts follow what Square answers where known
 * ("Expected a string value", "Field must be set", "Field must not be blank") and are the emulator's otherwise.
 */
export type JsonObject = Record<string, unknown>;

export function isObject(v: unknown): v is JsonObject {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

const e = (code: string, detail: string, field: string): SquareErrorEntry => ({
  category: 'INVALID_REQUEST_ERROR',
  code,
  detail,
  field,
});

function check(node: FieldNode, value: unknown, path: string, out: SquareErrorEntry[]): void {
  if (value === null || value === undefined) return;
  switch (node.t) {
    case 'unsupported':
      if (node.readOnly)
        out.push(e('BAD_REQUEST', `\`${path}\` is read-only and cannot be set in a request.`, path));
      else out.push(...notEmulated(`\`${path}\``, path).errors);
      return;
    case 'falseOnly':
      if (typeof value !== 'boolean') out.push(e('EXPECTED_BOOLEAN', 'Expected a boolean value', path));
      else if (value) out.push(...notEmulated(`\`${path}\` set to true`, path).errors);
      return;
    case 'boolean':
      if (typeof value !== 'boolean') out.push(e('EXPECTED_BOOLEAN', 'Expected a boolean value', path));
      return;
    case 'integer':
      if (typeof value !== 'number' || !Number.isInteger(value)) {
        out.push(e('EXPECTED_INTEGER', 'Expected an integer value', path));
        return;
      }
      if (node.min !== undefined && value < node.min)
        out.push(e('VALUE_TOO_LOW', `Field must be at least ${node.min}`, path));
      if (node.max !== undefined && value > node.max)
        out.push(e('VALUE_TOO_HIGH', `Field must not be greater than ${node.max}`, path));
      return;
    case 'number':
      if (typeof value !== 'number') out.push(e('EXPECTED_FLOAT', 'Expected a float value', path));
      return;
    case 'string':
      if (typeof value !== 'string') {
        out.push(e('EXPECTED_STRING', 'Expected a string value', path));
        return;
      }
      if (node.enumRef) {
        if (!(ENUMS[node.enumRef] ?? []).includes(value))
          out.push(
            e('INVALID_ENUM_VALUE', `\`${value}\` is not a valid enum value for \`${node.enumRef}\`.`, path),
          );
        return;
      }
      if (value === '' && node.min !== undefined && node.min > 0)
        out.push(e('VALUE_EMPTY', 'Field must not be blank', path));
      else if (node.min !== undefined && value.length < node.min)
        out.push(e('VALUE_TOO_SHORT', `Field must be at least ${node.min} length`, path));
      if (node.max !== undefined && value.length > node.max)
        out.push(e('VALUE_TOO_LONG', `Field must not be greater than ${node.max} length`, path));
      return;
    case 'array':
      if (!Array.isArray(value)) {
        out.push(e('EXPECTED_ARRAY', 'Expected an array', path));
        return;
      }
      value.forEach((v, i) => check(node.items, v, `${path}[${i}]`, out));
      return;
    case 'map':
      if (!isObject(value)) {
        out.push(e('EXPECTED_MAP', 'Expected a map', path));
        return;
      }
      for (const [k, v] of Object.entries(value)) check(node.values, v, `${path}.${k}`, out);
      return;
    case 'object':
      checkObject(node, value, path, out);
      return;
  }
}

function checkObject(node: ObjectNode, value: unknown, path: string, out: SquareErrorEntry[]): void {
  if (!isObject(value)) {
    out.push(e('EXPECTED_OBJECT', 'Expected an object', path));
    return;
  }
  for (const [k, v] of Object.entries(value)) {
    const child = node.props[k];
    const p = path === '' ? k : `${path}.${k}`;
    if (!child) {
      out.push(
        e(
          'UNKNOWN_BODY_PARAMETER',
          `Unknown field \`${p}\`: not a field of ${node.name ?? 'this object'} in Square's API reference.`,
          p,
        ),
      );
      continue;
    }
    check(child, v, p, out);
  }
  for (const r of node.required ?? []) {
    if (value[r] === undefined || value[r] === null)
      out.push(e('MISSING_REQUIRED_PARAMETER', 'Field must be set', path === '' ? r : `${path}.${r}`));
  }
}

/** The request body as the operation's table allows it; throws Square's 400 otherwise. */
export function checkBody(
  op: OperationSpec,
  kind: string,
  raw: string,
  value: unknown,
  parseError: string | null,
): JsonObject {
  const empty = raw.trim() === '';
  if (!op.body) {
    if (empty) return {};
    if (isObject(value) && Object.keys(value).length === 0) return {};
    if (isObject(value)) {
      const errors: SquareErrorEntry[] = Object.keys(value).map((k) =>
        e('UNKNOWN_BODY_PARAMETER', `Unknown field \`${k}\`: ${op.id} takes no request body.`, k),
      );
      throw new SquareApiError(400, errors);
    }
  }
  if (empty) throw badRequest('EXPECTED_JSON_BODY', 'The request body must be a JSON object.');
  if (kind !== 'json') throw badRequest('INVALID_CONTENT_TYPE', 'Content-Type must be application/json.');
  if (parseError !== null) throw badRequest('BAD_REQUEST', `Invalid JSON: ${parseError}`);
  if (!isObject(value)) throw badRequest('EXPECTED_JSON_BODY', 'The request body must be a JSON object.');
  const errors: SquareErrorEntry[] = [];
  if (op.body) checkObject(op.body, value, '', errors);
  if (errors.length > 0) throw new SquareApiError(400, errors);
  return value;
}

export type Query = Record<string, string[]>;

/** Query parameters as the operation's table allows them; throws Square's 400 otherwise. */
export function checkQuery(op: OperationSpec, rawQuery: string): Query {
  const out: Query = {};
  const errors: SquareErrorEntry[] = [];
  for (const [k, v] of new URLSearchParams(rawQuery)) {
    const spec = op.query[k];
    if (!spec) {
      errors.push(e('UNKNOWN_QUERY_PARAMETER', `Unknown query parameter \`${k}\` for ${op.id}.`, k));
      continue;
    }
    if (spec.t === 'unsupported') {
      errors.push(...notEmulated(`The query parameter \`${k}\``, k).errors);
      continue;
    }
    if (spec.t === 'integer' && !/^-?\d+$/.test(v))
      errors.push(e('EXPECTED_INTEGER', 'Expected an integer value', k));
    else if (spec.t === 'boolean' && v !== 'true' && v !== 'false')
      errors.push(e('EXPECTED_BOOLEAN', 'Expected a boolean value', k));
    else if (spec.enumRef && !(ENUMS[spec.enumRef] ?? []).includes(v))
      errors.push(e('INVALID_ENUM_VALUE', `\`${v}\` is not a valid enum value for \`${spec.enumRef}\`.`, k));
    (out[k] ??= []).push(v);
  }
  if (errors.length > 0) throw new SquareApiError(400, errors);
  return out;
}

/** An absolute http(s) URL (Square requires https; the emulator accepts http for local receivers). */
export function isHttpUrl(s: string): boolean {
  try {
    const u = new URL(s);
    return u.protocol === 'https:' || u.protocol === 'http:';
  } catch {
    return false;
  }
}
