/**
 * Shapes of the tables `generate.ts` derives from PayPal's published OpenAPI files
 * (github.com/paypal/paypal-rest-api-specifications). Request bodies become a tree of `FieldNode`s; every field PayPal
 * documents is in the tree, either validated (`object`, `array`, `string`, …) or marked `unsupported` (documented by
 * PayPal, not emulated: refused with a clear error, never silently ignored). A field absent from the tree is unknown.
 */
export interface StringNode {
  t: 'string';
  enum?: readonly string[];
  min?: number;
  max?: number;
  pattern?: string;
  /** OpenAPI `format` (`uri`, `date-time`, …); `uri` and `date-time` are checked. */
  format?: string;
}

export interface NumberNode {
  t: 'integer' | 'number';
  min?: number;
  max?: number;
}

export interface ObjectNode {
  t: 'object';
  props: Readonly<Record<string, FieldNode>>;
  required?: readonly string[];
}

export interface ArrayNode {
  t: 'array';
  items: FieldNode;
  min?: number;
  max?: number;
}

export type FieldNode =
  | StringNode
  | NumberNode
  | ObjectNode
  | ArrayNode
  | { t: 'boolean' }
  /** Any JSON value (free-form objects such as a webhook event's `resource`). */
  | { t: 'any' }
  /** Documented by PayPal, not emulated; `readOnly` when PayPal marks it response-only. */
  | { t: 'unsupported'; readOnly?: true };

export interface ParamSpec {
  required: boolean;
  schema: StringNode;
}

export interface ErrorCatalogEntry {
  /** PayPal's error `name` for this status (e.g. `INVALID_REQUEST`, `UNPROCESSABLE_ENTITY`), when the spec fixes it. */
  name?: string;
  message?: string;
  /** issue → description, as the spec lists them for this operation and status ('' when it gives none). */
  issues: Readonly<Record<string, string>>;
}

export interface OperationSpec {
  /** PayPal's operationId, e.g. `orders.create`. */
  id: string;
  method: 'GET' | 'POST' | 'PATCH' | 'DELETE';
  /** Path as PayPal writes it, e.g. `/v2/checkout/orders/{id}/capture`. */
  path: string;
  /** Spec file and its `info.version`. */
  source: string;
  /** Header parameters by lower-case name. */
  headers: Readonly<Record<string, ParamSpec>>;
  query: Readonly<Record<string, ParamSpec>>;
  /** Request body (null when the operation takes none). */
  body: FieldNode | null;
  bodyRequired: boolean;
  /** Error catalog by HTTP status. */
  errors: Readonly<Record<string, ErrorCatalogEntry>>;
}
