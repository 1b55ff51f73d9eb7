import type { EventCause } from './engine.js';
import type { FormObject } from './form.js';
import type { Scope } from './store.js';

export interface ApiRequest {
  /** Parsed form body (POST) or query string (GET/DELETE). */
  params: FormObject;
  /** Path parameters (`:id`). */
  path: Record<string, string>;
  /** Object space selected by `Stripe-Account` (platform when absent). */
  scope: Scope;
  /** Value of the `Stripe-Account` header, if any. */
  account: string | null;
  cause: EventCause;
  /** Request path without query (for list `url`). */
  url: string;
}

export type ApiHandler = (req: ApiRequest) => object | Promise<object>;

export interface Router {
  get(path: string, handler: ApiHandler): void;
  post(path: string, handler: ApiHandler): void;
  delete(path: string, handler: ApiHandler): void;
}
