/**
 * Shapes of the parameter tables generated from the `stripe` SDK's typings (see `generate.ts`).
 *
 * A parameter's kind mirrors its TypeScript type in the SDK:
 * - `string`: `string` (or an open enum's `OtherString`);
 * - `enum`: a union of string literals, `values` lists them;
 * - `integer` / `number`: `number` — the SDK does not tell integers from floats, so the generator reads the property's
 *   documentation: Stripe documents its floats ("A positive float larger than 0…", "decimal"), everything else that is
 *   a `number` is an integer in Stripe's OpenAPI spec (amounts, timestamps, counts);
 * - `decimal`: the SDK's `Decimal` class (a decimal string such as `unit_amount_decimal`);
 * - `boolean`;
 * - `object`: an interface, `fields` are its properties;
 * - `array`: `Array<X>`, `items` is X;
 * - `metadata`: `Stripe.MetadataParam` (string values; `metadata[k]=''` unsets a key);
 * - `map`: any other string-keyed index signature;
 * - `union`: several of the above (e.g. `created: number | RangeQueryParam`).
 *
 * `required` is set on a field the SDK marks as not optional; `emptyable` where the type is `Stripe.Emptyable<…>`
 * (the empty string unsets the parameter).
 */
export type ParamKind =
  | { readonly kind: 'string' }
  | { readonly kind: 'enum'; readonly values: readonly string[] }
  | { readonly kind: 'integer' }
  | { readonly kind: 'number' }
  | { readonly kind: 'decimal' }
  | { readonly kind: 'boolean' }
  | { readonly kind: 'object'; readonly fields: Readonly<Record<string, ParamSpec>> }
  | { readonly kind: 'array'; readonly items: ParamSpec }
  | { readonly kind: 'metadata' }
  | { readonly kind: 'map'; readonly values: ParamSpec }
  | { readonly kind: 'union'; readonly anyOf: readonly ParamSpec[] };

export type ParamSpec = ParamKind & { readonly required?: true; readonly emptyable?: true };

export interface EndpointSpec {
  /** The SDK method that calls the endpoint, e.g. `checkout.sessions.create`. */
  readonly sdk: string;
  /** The SDK's parameter interface, e.g. `Checkout.SessionCreateParams`. */
  readonly type: string;
  /** Top-level parameters (body for POST, query string for GET and DELETE). */
  readonly params: Readonly<Record<string, ParamSpec>>;
}
