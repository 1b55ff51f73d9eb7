/** The Stripe emulator's faults are the toolkit's (src/emulators/kit/faults.ts). */
export {
  Faults,
  defaultFaults,
  type ApiFaultRule,
  type EndpointFailureRule,
  type FaultConfig,
  type WebhookDropRule,
} from '../kit/faults.js';
