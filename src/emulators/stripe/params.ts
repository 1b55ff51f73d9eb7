import type { FormObject } from './form.js';

/**
 * Strict parameter checking of one API request (issue 10): throws the ApiError Stripe would answer for an unknown,
 * invalid or not-emulated parameter. `route` is the route pattern as registered (`/v1/checkout/sessions/:id`).
 * Placeholder until the generated tables land: accepts everything.
 */
export function checkRequest(_method: string, _route: string, _params: FormObject): void {}
