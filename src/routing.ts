/**
 * Where a generation runs: on this device or on a hosted provider, by privacy mode.
 *
 * - `local-only`: always this device; a device that cannot run the model gets a
 *   DeviceCapabilityError saying why, and nothing is ever sent anywhere.
 * - `prefer-local`: this device when its capability check passes, else the first
 *   configured provider (the decision says why).
 * - `remote-only`: the first configured provider.
 */
import { DeviceCapabilityError, InvalidParameterError } from './errors.ts';
import type { ImageEngine } from './providers/image-engine.ts';

/** Privacy modes of `createGenerator`. */
export type PrivacyMode = 'local-only' | 'prefer-local' | 'remote-only';
export const PRIVACY_MODES: readonly PrivacyMode[] = ['local-only', 'prefer-local', 'remote-only'];

/** The part of a device check that routing needs. */
export interface DeviceVerdict {
  ok: boolean;
  /** One sentence per missing capability (empty when ok). */
  reasons: string[];
  /** What is short, by capability name ('webgpu', 'maxBufferSize', 'gpu-memory', …), with bytes needed and available. */
  shortfalls?: { capability: string; needed?: number; available?: number }[];
  /** The memory plan the local engine would run, and why (with the numbers). */
  memory?: { plan: string | null; reason: string };
}

/** Where the next generation will run, and why. */
export interface RouteDecision {
  /** 'local', or the provider's id. */
  backend: string;
  /** "this device", or the provider's name. */
  label: string;
  /** True when the prompt stays on this device. */
  onDevice: boolean;
  /** A sentence for people: why this backend. */
  reason: string;
  /** The provider that will run it (absent for local). */
  provider?: ImageEngine;
}

const missing = (device: DeviceVerdict) => device.shortfalls?.map((s) => s.capability) ?? [];
/** The GPU-memory numbers of a verdict, for the error's `neededBytes`/`availableBytes`. */
const memoryBytes = (device: DeviceVerdict) => {
  const short = device.shortfalls?.find((s) => s.capability === 'gpu-memory');
  return short && typeof short.needed === 'number' && typeof short.available === 'number' ? { neededBytes: short.needed, availableBytes: short.available } : undefined;
};
const LOCAL = (reason: string): RouteDecision => ({ backend: 'local', label: 'this device', onDevice: true, reason });
const REMOTE = (provider: ImageEngine, reason: string): RouteDecision => ({ backend: provider.id, label: provider.label, onDevice: false, reason, provider });

/**
 * Decides where to run.
 * @param checkDevice called only when the mode may run locally
 * @throws DeviceCapabilityError in local-only mode (or with no provider) when the device cannot run the model
 * @throws InvalidParameterError in remote-only mode without providers
 */
export async function decideRoute(mode: PrivacyMode, providers: readonly ImageEngine[], checkDevice: () => Promise<DeviceVerdict>): Promise<RouteDecision> {
  if (mode === 'remote-only') {
    if (!providers.length) throw new InvalidParameterError('providers', 'at least one hosted provider in remote-only mode', 'none', 'no-provider');
    return REMOTE(providers[0], `Remote-only mode: the prompt is sent to ${providers[0].label}.`);
  }
  const device = await checkDevice();
  if (device.ok) return LOCAL(`This device can run the model${device.memory?.plan ? ` (${device.memory.reason})` : ''}: the prompt stays here.`);
  const why = device.reasons.join(' ');
  if (mode === 'local-only') {
    throw new DeviceCapabilityError(`This device cannot run the model locally: ${why} Local-only mode sends nothing to any provider; use a device with a larger GPU, or allow a hosted provider.`, missing(device), undefined, memoryBytes(device));
  }
  if (!providers.length) {
    throw new DeviceCapabilityError(`This device cannot run the model locally: ${why} Configure a hosted provider to generate anyway.`, missing(device), undefined, memoryBytes(device));
  }
  return REMOTE(providers[0], `This device cannot run the model locally (${why}), so the prompt is sent to ${providers[0].label}.`);
}
