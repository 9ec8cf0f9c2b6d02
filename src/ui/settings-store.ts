/**
 * The app's settings in this browser's localStorage: chosen model, privacy mode, GPU
 * memory plan, the hosted providers with their API keys, and the Hugging Face source and
 * access token.
 *
 * Keys stay in this browser: they are written only here, read only to configure the
 * provider (which sends them in a header to that provider or its proxy, never in a URL),
 * and never logged or shown again (the UI says "key saved", nothing more).
 */
import type { AnyProviderConfig, ProviderKind } from '../providers/index.ts';
import type { PrivacyMode } from '../routing.ts';
import { MEMORY_OPTIONS, type MemoryOption } from '../engine/memory-plan.ts';

/** A provider the visitor configured. */
export interface SavedProvider {
  id: string;
  kind: ProviderKind;
  apiKey?: string;
  baseUrl?: string;
  model?: string;
}

/** localStorage keys. */
export const SETTINGS_KEYS = {
  model: 'flux-webgpu:model',
  privacy: 'flux-webgpu:privacy',
  memory: 'flux-webgpu:memory',
  providers: 'flux-webgpu:providers',
  hubToken: 'flux-webgpu:hf-token',
  hubSource: 'flux-webgpu:hub-source',
} as const;

/** The Hub source the visitor chose in the import panel (never with its token). */
export interface SavedHubSource {
  /** 'official', 'gguf' or 'custom'. */
  choice: string;
  from?: string;
  transformer?: string;
  textEncoder2?: string;
  weights?: string;
  hubUrl?: string;
}

function storage(): Storage | undefined {
  try {
    return globalThis.localStorage;
  } catch {
    return undefined; // storage disabled (e.g. some private modes)
  }
}

function read<T>(key: string, fallback: T): T {
  try {
    const raw = storage()?.getItem(key);
    return raw === null || raw === undefined ? fallback : (JSON.parse(raw) as T);
  } catch {
    return fallback;
  }
}

function write(key: string, value: unknown): void {
  try {
    storage()?.setItem(key, JSON.stringify(value));
  } catch {
    // Full or disabled storage: the setting lasts for this page only.
  }
}

export const settingsStore = {
  model: (): string | undefined => read<string | undefined>(SETTINGS_KEYS.model, undefined),
  setModel: (url: string) => write(SETTINGS_KEYS.model, url),
  privacy: (): PrivacyMode | undefined => read<PrivacyMode | undefined>(SETTINGS_KEYS.privacy, undefined),
  setPrivacy: (mode: PrivacyMode) => write(SETTINGS_KEYS.privacy, mode),
  memory: (): MemoryOption | undefined => {
    const value = read<unknown>(SETTINGS_KEYS.memory, undefined);
    return MEMORY_OPTIONS.includes(value as MemoryOption) ? (value as MemoryOption) : undefined;
  },
  setMemory: (option: MemoryOption) => write(SETTINGS_KEYS.memory, option),
  providers: (): SavedProvider[] => {
    const list = read<unknown>(SETTINGS_KEYS.providers, []);
    return Array.isArray(list) ? (list as SavedProvider[]).filter((p) => p && typeof p.kind === 'string' && typeof p.id === 'string') : [];
  },
  setProviders: (list: SavedProvider[]) => write(SETTINGS_KEYS.providers, list),
  /** The Hugging Face access token, kept like provider keys: in this browser only, sent only to the Hub in a header. */
  hubToken: (): string | undefined => read<string | undefined>(SETTINGS_KEYS.hubToken, undefined),
  setHubToken: (token: string | undefined) => (token ? write(SETTINGS_KEYS.hubToken, token) : storage()?.removeItem(SETTINGS_KEYS.hubToken)),
  hubSource: (): SavedHubSource | undefined => read<SavedHubSource | undefined>(SETTINGS_KEYS.hubSource, undefined),
  setHubSource: (source: SavedHubSource) => write(SETTINGS_KEYS.hubSource, source),
};

/** The provider configs for `createGenerator` (keys included: they stay in memory). */
export function providerConfigs(list: SavedProvider[]): AnyProviderConfig[] {
  return list.map(({ kind, apiKey, baseUrl, model }) => {
    const config: AnyProviderConfig = { kind };
    if (apiKey) config.apiKey = apiKey;
    if (baseUrl) config.baseUrl = baseUrl;
    if (model) config.model = model;
    if (kind === 'openai') (config as AnyProviderConfig & { sendSeedAndSteps?: boolean }).sendSeedAndSteps = true;
    return config;
  });
}
