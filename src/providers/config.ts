/**
 * How a hosted provider is configured, and every provider default in one place:
 * base URLs, default models, timeouts, poll intervals, retry bounds, and whether a web
 * page can call the provider directly (CORS).
 */

/** The hosted providers this project speaks to. */
export type ProviderKind = 'bfl' | 'fal' | 'replicate' | 'openai' | 'monica' | 'aimlapi';

/** Settings common to every provider. */
export interface ProviderConfig {
  kind: ProviderKind;
  /**
   * Sent only in a header (`x-key`, `Authorization: Key …` or `Authorization: Bearer …`),
   * only to `baseUrl`'s host or the provider's own hosts; never in a URL, never logged.
   * May be absent when `baseUrl` is a proxy that adds the key itself.
   */
  apiKey?: string;
  /**
   * The provider's API root (default: its public endpoint), or a proxy on the site's own
   * server that forwards to it, so that no key sits in page source.
   */
  baseUrl?: string;
  /** The provider's model id (defaults in PROVIDER_INFO). */
  model?: string;
  /** Refuse values the provider cannot honour (InvalidParameterError) instead of picking the nearest allowed. Default false. */
  strict?: boolean;
  /** Milliseconds for the whole generation, queue and image downloads included. */
  timeoutMs?: number;
  /** Milliseconds between status polls. */
  pollIntervalMs?: number;
  /** Retries of a 429 or 5xx answer per HTTP call (default 3). */
  maxRetries?: number;
  /** First backoff after a 5xx (or a 429 without Retry-After), doubled per retry, in ms (default 1000). */
  retryBaseMs?: number;
  /** A Retry-After longer than this (ms) is not waited for: RateLimitedError at once (default 60000). */
  maxRetryAfterMs?: number;
  /** Overrides the provider's id (e.g. two OpenAI-compatible gateways side by side). */
  id?: string;
  /** Overrides the provider's label. */
  label?: string;
}

/** OpenAI-compatible gateways (Together, Lumenfall, DeepInfra, …). */
export interface OpenAICompatibleConfig extends ProviderConfig {
  kind: 'openai';
  /**
   * `url` (then each image is fetched), `b64_json` (OpenAI's name) or `base64` (Together's
   * name). Default `b64_json`: no second fetch and no CORS question for the image host.
   */
  responseFormat?: 'url' | 'b64_json' | 'base64';
  /**
   * Also send `seed` and `steps`, which FLUX gateways such as Together accept but the
   * OpenAI API itself does not. Default false (they are left out and the result says so).
   */
  sendSeedAndSteps?: boolean;
}

/** Any provider's configuration. */
export type AnyProviderConfig = ProviderConfig | OpenAICompatibleConfig;

/** Whether a web page may call a provider's API directly. */
export type CorsSupport = 'yes' | 'no' | 'unknown';

/** Static facts about a provider, for routing and settings UIs. */
export interface ProviderInfo {
  kind: ProviderKind;
  label: string;
  /** Public API root; undefined where a base URL must be configured. */
  defaultBaseUrl?: string;
  defaultModel: string;
  /**
   * 'yes': browsers may call the API directly (the key is then visible to the page's
   * users). 'no': only through a `baseUrl` proxy (the provider refuses up front in a
   * browser without one). 'unknown': not documented; a blocked call becomes a
   * ProviderCorsError advising a proxy.
   */
  cors: CorsSupport;
  /** Default ms between polls (0 for synchronous APIs). */
  pollIntervalMs: number;
  /** Hosts (and their subdomains) besides `baseUrl`'s that may receive the key (e.g. a BFL regional polling host). */
  keyHosts: string[];
  /** What the provider's rate limit is, for RateLimitedError messages. */
  rateLimitHint: string;
  /** Where to get a key or credits, for error messages. */
  accountUrl: string;
}

/** Defaults shared by all providers. */
export const PROVIDER_DEFAULTS = {
  /** Whole generation, in ms. */
  timeoutMs: 180_000,
  maxRetries: 3,
  retryBaseMs: 1_000,
  maxRetryAfterMs: 60_000,
};

/** One entry per provider kind. */
export const PROVIDER_INFO: Record<ProviderKind, ProviderInfo> = {
  bfl: {
    kind: 'bfl',
    label: 'Black Forest Labs',
    defaultBaseUrl: 'https://api.bfl.ai',
    defaultModel: 'flux-pro-1.1',
    cors: 'unknown',
    pollIntervalMs: 500,
    keyHosts: ['bfl.ai', 'bfl.ml'],
    rateLimitHint: 'BFL allows 24 active tasks per key',
    accountUrl: 'https://dashboard.bfl.ai',
  },
  fal: {
    kind: 'fal',
    label: 'fal',
    defaultBaseUrl: 'https://queue.fal.run',
    defaultModel: 'fal-ai/flux/schnell',
    cors: 'yes',
    pollIntervalMs: 500,
    keyHosts: ['fal.run', 'fal.ai'],
    rateLimitHint: 'fal limits concurrent requests per account',
    accountUrl: 'https://fal.ai/dashboard',
  },
  replicate: {
    kind: 'replicate',
    label: 'Replicate',
    defaultBaseUrl: 'https://api.replicate.com',
    defaultModel: 'black-forest-labs/flux-schnell',
    cors: 'no',
    pollIntervalMs: 1_000,
    keyHosts: ['replicate.com'],
    rateLimitHint: 'Replicate limits prediction creation per minute',
    accountUrl: 'https://replicate.com/account',
  },
  openai: {
    kind: 'openai',
    label: 'OpenAI-compatible gateway',
    defaultBaseUrl: undefined,
    defaultModel: 'black-forest-labs/FLUX.1-schnell',
    cors: 'unknown',
    pollIntervalMs: 0,
    keyHosts: [],
    rateLimitHint: 'the gateway limits requests per minute',
    accountUrl: "the gateway's account page",
  },
  monica: {
    kind: 'monica',
    label: 'Monica',
    defaultBaseUrl: 'https://openapi.monica.im',
    defaultModel: 'flux_schnell',
    cors: 'unknown',
    pollIntervalMs: 0,
    keyHosts: [],
    rateLimitHint: 'Monica allows 10 requests a minute and 8 at once',
    accountUrl: 'https://platform.monica.im',
  },
  aimlapi: {
    kind: 'aimlapi',
    label: 'AI/ML API',
    defaultBaseUrl: 'https://api.aimlapi.com',
    defaultModel: 'flux/schnell',
    cors: 'unknown',
    pollIntervalMs: 0,
    keyHosts: [],
    rateLimitHint: 'AI/ML API limits requests per minute',
    accountUrl: 'https://aimlapi.com/app',
  },
};
