import { Client, Environment } from '@paypal/paypal-server-sdk';
import axios, { type AxiosAdapter, type InternalAxiosRequestConfig } from 'axios';

/**
 * Pointing the official SDK at the emulator. The SDK has no base-URL option (its environments are a closed enum of
 * PayPal's hosts) and builds absolute URLs; its `unstable_httpClientOptions` is spread into `axios.create()`, so a
 * custom axios adapter can send each request to the emulator instead, keeping path and query
 * (../shared/reference/provider-facts.md §9a). Nothing changes for a client configured without these options.
 */

function emulatorBase(emulatorUrl: string): string {
  const u = new URL(emulatorUrl);
  if (u.protocol !== 'http:' && u.protocol !== 'https:')
    throw new Error(`emulator URL must be http(s): ${emulatorUrl}`);
  return `${u.protocol}//${u.host}${u.pathname.replace(/\/$/, '')}`;
}

/** The `unstable_httpClientOptions` that send every SDK request to `emulatorUrl`. */
export function emulatorHttpClientOptions(emulatorUrl: string): { adapter: AxiosAdapter } {
  const base = emulatorBase(emulatorUrl);
  const http = axios.getAdapter('http');
  const adapter: AxiosAdapter = (config: InternalAxiosRequestConfig) => {
    const target = new URL(config.url ?? '/', 'https://api-m.sandbox.paypal.com');
    return http({ ...config, baseURL: undefined, url: `${base}${target.pathname}${target.search}` });
  };
  return { adapter };
}

export interface PayPalSdkClientOptions {
  clientId?: string;
  clientSecret?: string;
  /** Request timeout in ms (the SDK's default is none); default 10 000. */
  timeout?: number;
}

/** An official SDK client (Sandbox environment) whose requests go to the emulator. */
export function paypalSdkClientFor(emulatorUrl: string, opts: PayPalSdkClientOptions = {}): Client {
  return new Client({
    clientCredentialsAuthCredentials: {
      oAuthClientId: opts.clientId ?? 'emulator-client-id',
      oAuthClientSecret: opts.clientSecret ?? 'emulator-client-secret',
    },
    environment: Environment.Sandbox,
    timeout: opts.timeout ?? 10_000,
    unstable_httpClientOptions: emulatorHttpClientOptions(emulatorUrl),
  });
}
