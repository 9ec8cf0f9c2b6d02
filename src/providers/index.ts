/**
 * Hosted providers behind one `ImageEngine` interface: `createProvider(config)` builds
 * one from its configuration (see config.ts for every setting and default).
 */
import { InvalidParameterError } from '../errors.ts';
import { AimlApiProvider } from './aimlapi.ts';
import { BflProvider } from './bfl.ts';
import { PROVIDER_INFO, type AnyProviderConfig, type OpenAICompatibleConfig, type ProviderKind } from './config.ts';
import { FalProvider } from './fal.ts';
import type { ImageEngine } from './image-engine.ts';
export { isEngine } from './image-engine.ts';
import { MonicaProvider } from './monica.ts';
import { OpenAICompatibleProvider } from './openai-compatible.ts';
import { resolveSettings } from './remote-call.ts';
import { ReplicateProvider } from './replicate.ts';

export type { AnyProviderConfig, CorsSupport, OpenAICompatibleConfig, ProviderConfig, ProviderInfo, ProviderKind } from './config.ts';
export { PROVIDER_DEFAULTS, PROVIDER_INFO } from './config.ts';
export type {
  ImageEngine,
  ProviderGenerateOptions,
  ProviderProgressCallback,
  ProviderProgressEvent,
  ProviderRequest,
  ProviderResult,
} from './image-engine.ts';
export type { RemoteProgressEvent, RemoteStatus } from '../progress.ts';
export { isBrowserContext } from './remote-call.ts';

const KINDS = Object.keys(PROVIDER_INFO) as ProviderKind[];

/** The header that carries each provider's key. */
function authHeader(kind: ProviderKind): (key: string) => { name: string; value: string } {
  if (kind === 'bfl') return (key) => ({ name: 'x-key', value: key });
  if (kind === 'fal') return (key) => ({ name: 'authorization', value: `Key ${key}` });
  return (key) => ({ name: 'authorization', value: `Bearer ${key}` });
}

/** Every key of a provider config (ProviderConfig and OpenAICompatibleConfig); others are refused. */
const CONFIG_KEYS = ['kind', 'apiKey', 'baseUrl', 'model', 'strict', 'timeoutMs', 'pollIntervalMs', 'maxRetries', 'retryBaseMs', 'maxRetryAfterMs', 'id', 'label', 'responseFormat', 'sendSeedAndSteps'];

/**
 * Builds a hosted provider.
 * @param config `kind` picks the provider; `apiKey` (sent only in a header, only to the
 *   provider or `baseUrl`), `baseUrl` (its API root or a proxy; relative URLs resolve
 *   against the page), `model`, `strict`, `timeoutMs`, `pollIntervalMs`, retry bounds.
 * @throws InvalidParameterError naming the field for every value that is not allowed
 *   (an unknown kind or key, a bad baseUrl or key, a number out of range, an
 *   OpenAI-compatible provider without baseUrl)
 */
export function createProvider(config: AnyProviderConfig): ImageEngine {
  if (typeof config !== 'object' || config === null || Array.isArray(config)) {
    throw new InvalidParameterError('config', 'a provider config such as { kind: "bfl", apiKey: "…" }', config, config === undefined || config === null ? 'missing' : 'wrong-type');
  }
  const raw = config as unknown as Record<string, unknown>;
  if (!KINDS.includes(config.kind)) throw new InvalidParameterError('kind', `one of ${KINDS.join(', ')}`, config.kind, config.kind === undefined ? 'missing' : typeof config.kind === 'string' ? 'not-one-of' : 'wrong-type');
  for (const key of Object.keys(raw)) {
    if (!CONFIG_KEYS.includes(key) && raw[key] !== undefined) throw new InvalidParameterError(key, `not a provider setting (the settings: ${CONFIG_KEYS.join(', ')})`, raw[key], 'unknown-field');
  }
  const info = PROVIDER_INFO[config.kind];
  const checked: AnyProviderConfig = { ...config, baseUrl: config.baseUrl === undefined ? undefined : checkBaseUrl(config.baseUrl) };
  if (config.apiKey !== undefined) checked.apiKey = checkApiKey(config.apiKey);
  if (!checked.baseUrl && !info.defaultBaseUrl) {
    throw new InvalidParameterError('baseUrl', `the URL of the ${info.label} (e.g. https://api.together.xyz)`, checked.baseUrl, 'missing');
  }
  for (const field of ['model', 'id', 'label'] as const) {
    const value = raw[field];
    if (value !== undefined && (typeof value !== 'string' || value.trim() === '')) {
      throw new InvalidParameterError(field, field === 'model' ? "the provider's model id (non-empty text)" : 'non-empty text', value, typeof value === 'string' ? 'missing' : 'wrong-type');
    }
  }
  for (const field of ['strict', 'sendSeedAndSteps'] as const) {
    const value = raw[field];
    if (value !== undefined && typeof value !== 'boolean') throw new InvalidParameterError(field, 'true or false', value, 'wrong-type');
  }
  for (const field of ['timeoutMs', 'pollIntervalMs', 'maxRetries', 'retryBaseMs', 'maxRetryAfterMs'] as const) {
    const value = config[field];
    if (value === undefined) continue;
    const allowed = field === 'maxRetries' ? 'an integer ≥ 0' : 'a number of milliseconds ≥ 0';
    if (typeof value !== 'number') throw new InvalidParameterError(field, allowed, value, 'wrong-type');
    if (!Number.isFinite(value) || value < 0 || (field === 'maxRetries' && !Number.isInteger(value))) throw new InvalidParameterError(field, allowed, value, 'out-of-range');
  }
  if (config.kind !== 'openai' && raw.responseFormat !== undefined) throw new InvalidParameterError('responseFormat', 'absent (only OpenAI-compatible providers have it)', raw.responseFormat, 'conflict');
  if (config.kind !== 'openai' && raw.sendSeedAndSteps !== undefined) throw new InvalidParameterError('sendSeedAndSteps', 'absent (only OpenAI-compatible providers have it)', raw.sendSeedAndSteps, 'conflict');
  const settings = resolveSettings(checked, info, authHeader(config.kind));
  switch (config.kind) {
    case 'bfl':
      return new BflProvider(settings);
    case 'fal':
      return new FalProvider(settings);
    case 'replicate':
      return new ReplicateProvider(settings);
    case 'openai': {
      const openai = config as OpenAICompatibleConfig;
      if (openai.responseFormat !== undefined && !['url', 'b64_json', 'base64'].includes(openai.responseFormat)) {
        throw new InvalidParameterError('responseFormat', 'url, b64_json or base64', openai.responseFormat, typeof openai.responseFormat === 'string' ? 'not-one-of' : 'wrong-type');
      }
      return new OpenAICompatibleProvider(settings, openai.responseFormat, openai.sendSeedAndSteps ?? false);
    }
    case 'monica':
      return new MonicaProvider(settings);
    case 'aimlapi':
      return new AimlApiProvider(settings);
  }
}

function checkBaseUrl(baseUrl: unknown): string {
  const allowed = 'an http(s) URL (absolute, or relative to the page in a browser)';
  if (typeof baseUrl !== 'string') throw new InvalidParameterError('baseUrl', allowed, baseUrl, 'wrong-type');
  if (baseUrl.trim() === '') throw new InvalidParameterError('baseUrl', allowed, baseUrl, 'missing');
  let url: URL | undefined;
  try {
    url = new URL(baseUrl);
  } catch {
    const page = (globalThis as { location?: { href?: string } }).location?.href;
    if (page) {
      try {
        url = new URL(baseUrl, page);
      } catch {
        url = undefined;
      }
    }
  }
  if (!url || (url.protocol !== 'https:' && url.protocol !== 'http:')) {
    throw new InvalidParameterError('baseUrl', allowed, baseUrl, 'malformed');
  }
  if (url.username || url.password) throw new InvalidParameterError('baseUrl', 'a URL without credentials (give the key as apiKey: it is sent in a header)', '(a URL with credentials)', 'secret');
  return url.href.replace(/\/+$/, '');
}

function checkApiKey(key: unknown): string {
  const trimmed = typeof key === 'string' ? key.trim() : '';
  // Never echo the key itself.
  if (!trimmed || !/^[\x21-\x7e]+$/.test(trimmed)) throw new InvalidParameterError('apiKey', 'non-empty printable ASCII text without spaces', '(hidden)', typeof key === 'string' ? 'malformed' : 'wrong-type');
  return trimmed;
}
