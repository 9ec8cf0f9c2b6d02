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
export { importModel, planModelImport, type ModelImportOptions } from './import/model-import.ts';
export { importedPackageUrl, type HubModelSource } from './import/hub-model-source.ts';
export type { HubImportPlan, HubImportResult } from './import/hub-import.ts';
export type { ImportProgressEvent } from './import/import-progress.ts';
export { createLocalGenerator, startWorker, type DecodeLatentsParams, type LocalGenerator, type LocalGeneratorOptions } from './local-generator.ts';
export type { ValidRequest } from './request.ts';
export type { WorkerLocation } from './engine/worker-url.ts';
export type { PrivacyMode, RouteDecision } from './routing.ts';
export { createProvider, PROVIDER_INFO, type AnyProviderConfig, type ImageEngine, type ProviderKind } from './providers/index.ts';
export type { BflFacade, BflRequestBody, BflResult, BflStatus } from './facades/bfl-facade.ts';
export type { OpenAIImageRequest, OpenAIImagesFacade, OpenAIImagesResponse } from './facades/openai-facade.ts';
export type { GenerateParams, GenerateResult, GenerateTimings, LoadOptions, OutputFormat, PromptEmbeddings } from './api-types.ts';
export type { DownloadRetryEvent, ProgressCallback, ProgressEvent } from './progress.ts';
export type { DownloadRetryOptions } from './store/download-retry.ts';
export { describeTokenCount, type EncoderTokenCount, type TokenCount } from './text/token-count.ts';
export type { DeviceCheckOptions, DeviceMemoryReport, DeviceReport, DeviceShortfall, EngineDecodeResult, EngineSettings, LoadedModel, StoredModel } from './engine/protocol.ts';
export { MEMORY_OPTIONS, MEMORY_PLANS, type MemoryOption, type MemoryPlan } from './engine/memory-plan.ts';
export {
  AbortedError,
  CheckpointError,
  DeviceCapabilityError,
  DeviceLostError,
  WorkerCrashedError,
  DownloadError,
  FluxError,
  GpuOutOfMemoryError,
  HubError,
  IntegrityError,
  InvalidParameterError,
  LibraryAssetError,
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
  ERROR_CLASSES,
} from './errors.ts';
export type {
  InvalidParameterReason,
  DeviceCapabilityReason,
  WorkerCrashReason,
  ModelPackageReason,
  DownloadReason,
  IntegrityReason,
  StorageQuotaReason,
  ProviderErrorReason,
} from './errors.ts';
export { DownloadRetriesExhaustedError, ProviderNetworkError, ProviderRedirectError } from './errors.ts';
export { DEFAULTS, LIMITS } from './defaults.ts';
