/** The provider-neutral emulator toolkit (see README.md in this folder). */
export { Clock, ambientNow, type ClockOptions, type ClockState, type ClockTimer } from './clock.js';
export { Tasks } from './tasks.js';
export {
  Faults,
  defaultFaults,
  type ApiFault,
  type ApiFaultRule,
  type EndpointFailureRule,
  type FaultConfig,
  type WebhookDropRule,
} from './faults.js';
export {
  IdempotencyStore,
  type IdempotencyDecision,
  type IdempotencyEntry,
  type IdempotencyMismatch,
  type IdempotencyPolicy,
} from './idempotency.js';
export {
  ApiServer,
  RawBody,
  Reply,
  controlBody,
  formFields,
  rawBodyOf,
  respond,
  type ApiCall,
  type ApiFaultKind,
  type ApiHandlerFn,
  type ApiServerOptions,
  type CallBase,
  type ControlRequest,
  type ErrorContext,
  type HttpMethod,
  type Rendered,
  type RequestRecord,
} from './server.js';
export {
  WebhookSender,
  type DeliveryRecord,
  type RetryPolicy,
  type SignInput,
  type WebhookMessage,
  type WebhookSenderOptions,
  type WebhookSigner,
  type WebhookTarget,
} from './webhooks.js';
export {
  DEFAULT_CSS,
  esc,
  htmlPage,
  messageBody,
  postForm,
  redirect,
  sendHtml,
  withQuery,
  type PageShell,
  type PostFormOptions,
} from './pages.js';
export { BASE62, Sequence, Table, UPPER_ALNUM, randomString } from './store.js';
