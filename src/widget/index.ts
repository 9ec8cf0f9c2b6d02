/**
 * `widget.js`: the embeddable generator. Importing it defines `<flux-generator>`.
 *
 * ```html
 * <script type="module" src="https://example.org/flux-webgpu/widget.js"></script>
 * <flux-generator model="https://example.org/flux-webgpu/models/demo/" privacy="local-only"></flux-generator>
 * ```
 *
 * The worker and onnxruntime's wasm are found next to this module (URLs relative to its
 * own), so the built folder works from any static host or sub-path.
 */
import { defineFluxGenerator } from './flux-generator.ts';

defineFluxGenerator();

export { defineFluxGenerator, FluxGeneratorElement, TAG_NAME } from './flux-generator.ts';
export type { ErrorEventDetail, ImageEventDetail, ProgressEventDetail, RouteEventDetail, WidgetRequest } from './flux-generator.ts';
export { sharedGeneratorStats } from './shared-generators.ts';
export { createGenerator } from '../generator.ts';
export { FluxError, InvalidParameterError, DeviceCapabilityError, DeviceLostError, WorkerCrashedError, AbortedError, ProviderError } from '../errors.ts';
export { PROVIDER_INFO } from '../providers/index.ts';
