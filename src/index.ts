/**
 * flux-webgpu: FLUX.1 [schnell] text-to-image in the web page, on the visitor's GPU.
 *
 * ```ts
 * import { createGenerator } from 'flux-webgpu';
 * const generator = createGenerator({ model: 'https://example.org/models/flux1-schnell-q4/' });
 * const report = await generator.checkDevice();            // before any weight download
 * const { images } = await generator.generate({ prompt: 'a red fox in the snow', width: 512, height: 512 });
 * ```
 */
export { createGenerator, type Generator, type GeneratorOptions } from './generator.ts';
export { createLocalGenerator, type DecodeLatentsParams } from './client.ts';
export type { PrivacyMode, RouteDecision } from './routing.ts';
export { createProvider, PROVIDER_INFO, type AnyProviderConfig, type ImageEngine, type ProviderKind } from './providers/index.ts';
export type { BflFacade, BflRequestBody, BflResult, BflStatus } from './facades/bfl-facade.ts';
export type { OpenAIImageRequest, OpenAIImagesFacade, OpenAIImagesResponse } from './facades/openai-facade.ts';
export type { GenerateParams, GenerateResult, GenerateTimings, OutputFormat, PromptEmbeddings } from './api-types.ts';
export type { ProgressCallback, ProgressEvent } from './progress.ts';
export type { DeviceReport, DeviceShortfall, EngineDecodeResult, EngineSettings, LoadedModel, StoredModel } from './engine/protocol.ts';
export {
  AbortedError,
  CheckpointError,
  DeviceCapabilityError,
  DownloadError,
  FluxError,
  IntegrityError,
  InvalidParameterError,
  ModelPackageError,
  StorageQuotaError,
  ProviderError,
  ProviderAuthError,
  ProviderCreditsError,
  ProviderCorsError,
  RateLimitedError,
  RequestModeratedError,
  ContentModeratedError,
  BflValidationError,
  OpenAIRequestError,
} from './errors.ts';
export { DEFAULTS, LIMITS } from './defaults.ts';
