/**
 * Shapes of the tables `generate.ts` derives from Square's OpenAPI document (github.com/square/connect-api-specification,
 * `api.json`). A request body is a tree of `FieldNode`s: every field Square documents for an operation is in the tree,
 * either checked (`string`, `integer`, `object`, …) or `unsupported` (documented by Square, not emulated: refused with
 * a clear error, never silently ignored). A field absent from the tree is unknown to Square and refused as such.
 */
export interface StringNode {
  t: 'string';
  /** Name of an enum in `ENUMS` (Square's enum schemas: `Currency`, `DisputeState`, …). */
  enumRef?: string;
  min?: number;
  max?: number;
}

export interface IntegerNode {
  t: 'integer';
  min?: number;
  max?: number;
}

export interface ObjectNode {
  t: 'object';
  /** Square's schema name (`Money`, `CheckoutOptions`), for messages. */
  name?: string;
  props: Readonly<Record<string, FieldNode>>;
  required?: readonly string[];
}

export interface ArrayNode {
  t: 'array';
  items: FieldNode;
}

/** A JSON object with free keys (`metadata`). */
export interface MapNode {
  t: 'map';
  values: FieldNode;
}

export type FieldNode =
  | StringNode
  | IntegerNode
  | ObjectNode
  | ArrayNode
  | MapNode
  | { t: 'number' }
  | { t: 'boolean' }
  /** Documented by Square, not emulated; `readOnly` when Square marks it response-only. */
  | { t: 'unsupported'; readOnly?: true }
  /** A documented boolean the emulator implements only as off: `false` (or null) is accepted, `true` refused. */
  | { t: 'falseOnly' };

export interface QueryParamSpec {
  /** `unsupported`: documented, not emulated. */
  t: 'string' | 'integer' | 'boolean' | 'unsupported';
  enumRef?: string;
}

export interface OperationSpec {
  /** Square's operationId (`CreatePaymentLink`). */
  id: string;
  method: 'GET' | 'POST' | 'PUT' | 'DELETE';
  /** Square's path, `{param}` style. */
  path: string;
  /**
   * Square's `security`: `oauth2` with the OAuth scopes the operation needs, `none` (ObtainToken), or `client`
   * (RevokeToken: `Authorization: Client <application secret>`).
   */
  auth: 'oauth2' | 'none' | 'client';
  scopes: readonly string[];
  query: Readonly<Record<string, QueryParamSpec>>;
  /** Request body tree; null when the operation takes none. */
  body: ObjectNode | null;
  /** `x-endpoint-errors`: the error codes Square lists for this operation. */
  errors: readonly string[];
}
