/**
 * `<flux-generator>`: a complete text-to-image generator as a custom element, in a
 * shadow root (the host page's CSS neither breaks it nor is broken by it).
 *
 * ```html
 * <script type="module" src="https://example.org/flux-webgpu/widget.js"></script>
 * <flux-generator model="https://example.org/models/flux1-schnell-q4/" privacy="local-only"></flux-generator>
 * ```
 *
 * Attributes: see config.ts. Properties: `model`, `privacy` (reflect their attributes),
 * `providers` (configs or engines, keys allowed here, never in attributes), `generator`,
 * `lastResult`, `busy`. Methods: `generate(params?)` (the library's result),
 * `cancel()`, `route()`, `setParams(params)`. Events (CustomEvent, not bubbling):
 * `progress` (detail: the ProgressEvent plus `fraction`, `text`, `etaMs`), `image`
 * (detail: `{result, request}`), `error` (detail: `{error, name, summary, action,
 * message}`), `route` (detail: where the next generation runs, or `{error}`).
 *
 * Every widget on a page with the same model shares one worker and one copy of the
 * weights (shared-generators.ts).
 */
import type { GenerateParams, GenerateResult, OutputFormat } from '../api-types.ts';
import { FluxError, InvalidParameterError } from '../errors.ts';
import type { Generator } from '../generator.ts';
import type { ProgressEvent } from '../progress.ts';
import { PROVIDER_INFO, type AnyProviderConfig, type ImageEngine, type ProviderKind } from '../providers/index.ts';
import { checkCallOptions } from '../request.ts';
import { PRIVACY_MODES, type PrivacyMode, type RouteDecision } from '../routing.ts';
import { checkFormParams, FORM_ATTRIBUTES, GENERATOR_ATTRIBUTES, readFormDefaults, readGeneratorConfig, sizeRange, type FormDefaults, type GeneratorConfig } from './config.ts';
import { errorLine, explainError, imageAlt, NO_WEBGPU, remotePrivacy, resultLine, resultPrivacy, doneLine, routeErrorPresentation, routeNotice, routePrivacy, type ErrorExplanation } from './presenter.ts';
import { ProgressTracker } from './progress-tracker.ts';
import { acquireGenerator, type GeneratorLease } from './shared-generators.ts';
import { ModelControls } from './model-controls.ts';
import { TokenCounter } from './token-counter.ts';
import { applyDefaults, buildView, drawPreview, markInvalid, readForm, renderError, renderNotice, renderPrivacy, renderProgress, setFrameAspect, type WidgetView } from './view.ts';

/** The tag name. */
export const TAG_NAME = 'flux-generator';

/** What a generation was asked for (the `image` event's `request`). */
export interface WidgetRequest {
  prompt: string;
  width: number;
  height: number;
  steps: number;
  /** The guidance scale used (guidance-distilled models). */
  guidance?: number;
  /** The seed used (the result's). */
  seed: number;
  outputFormat: OutputFormat;
  /** The package URL, when it ran on this device. */
  model?: string;
}

/** Detail of the `image` event. */
export interface ImageEventDetail {
  result: GenerateResult;
  request: WidgetRequest;
}

/** Detail of the `error` event. */
export interface ErrorEventDetail extends ErrorExplanation {
  error: unknown;
  name: string;
  /** Summary and action in one line. */
  message: string;
}

/** Detail of the `progress` event. */
export type ProgressEventDetail = ProgressEvent & { fraction: number | null; text: string; etaMs?: number };

/**
 * Detail of the `route` event. `webgpu`: whether this browser has a usable WebGPU adapter
 * (undefined when not checked, e.g. in remote-only mode).
 */
export type RouteEventDetail = { webgpu?: boolean } & ({ backend: string; label: string; onDevice: boolean; reason: string; error?: undefined } | { error: unknown; summary: string; action: string });

/** How long a disconnected element keeps its generator (a DOM move reconnects within it), in ms. */
const RELEASE_DELAY_MS = 1000;

const gpuApiPresent = () => typeof navigator !== 'undefined' && Boolean((navigator as { gpu?: unknown }).gpu);

/**
 * Whether this browser has a usable WebGPU adapter: `navigator.gpu` can exist with no
 * adapter behind it (WebGPU disabled, blocklisted GPU), so the worker's device check decides.
 */
async function webGpuAvailable(generator: Generator | undefined, privacy: PrivacyMode | undefined): Promise<boolean | undefined> {
  if (!gpuApiPresent()) return false;
  if (!generator || privacy === 'remote-only') return undefined;
  try {
    return (await generator.checkDevice()).webgpu;
  } catch {
    return undefined;
  }
}

/** The `<flux-generator>` element. */
/** HTMLElement, or a stand-in where there is none (server-side rendering imports this module too). */
const ElementBase: typeof HTMLElement = globalThis.HTMLElement ?? (class {} as unknown as typeof HTMLElement);

export class FluxGeneratorElement extends ElementBase {
  static get observedAttributes(): string[] {
    return [...GENERATOR_ATTRIBUTES, ...FORM_ATTRIBUTES];
  }

  private readonly view: WidgetView;
  private readonly tokenCounter: TokenCounter;
  private readonly modelControls: ModelControls;
  private config?: GeneratorConfig;
  private defaults?: FormDefaults;
  private lease?: GeneratorLease;
  private providersValue?: (AnyProviderConfig | ImageEngine)[];
  private configError?: unknown;
  private readonly runs = new Set<AbortController>();
  private uiRun = 0;
  private routeToken = 0;
  private releaseTimer?: ReturnType<typeof setTimeout>;
  private reconfigureQueued = false;
  private userEdited = false;
  private resultUrl?: string;
  private last?: GenerateResult;

  constructor() {
    super();
    this.view = buildView(this.attachShadow({ mode: 'open' }));
    const v = this.view;
    this.modelControls = new ModelControls(v.steps);
    // Counts only for a local model (a remote-only widget has none).
    this.tokenCounter = new TokenCounter(v.prompt, () => (this.config?.model ? this.lease?.generator : null));
    v.form.addEventListener('submit', (event) => {
      event.preventDefault();
      this.generate().catch(() => undefined); // shown in the widget and sent as an `error` event
    });
    v.cancelButton.addEventListener('click', () => this.cancel());
    v.prompt.addEventListener('keydown', (event) => {
      if (event.key === 'Enter' && (event.ctrlKey || event.metaKey)) {
        event.preventDefault();
        v.form.requestSubmit();
      }
    });
    v.root.addEventListener('keydown', (event) => {
      if (event.key === 'Escape' && this.runs.size) this.cancel();
    });
    for (const input of [v.width, v.height, v.steps, v.seed, v.format, this.modelControls.guidance]) {
      input.addEventListener('input', () => {
        this.userEdited = true;
        input.removeAttribute('aria-invalid');
      });
    }
    v.prompt.addEventListener('input', () => v.prompt.removeAttribute('aria-invalid'));
  }

  connectedCallback(): void {
    clearTimeout(this.releaseTimer);
    this.releaseTimer = undefined;
    if (!this.lease || this.reconfigureQueued) this.reconfigure();
  }

  disconnectedCallback(): void {
    this.releaseTimer = setTimeout(() => {
      this.cancel();
      this.lease?.release();
      this.lease = undefined;
      if (this.resultUrl) URL.revokeObjectURL(this.resultUrl);
      this.resultUrl = undefined;
    }, RELEASE_DELAY_MS);
  }

  attributeChangedCallback(name: string, oldValue: string | null, value: string | null): void {
    if (oldValue === value) return;
    if ((GENERATOR_ATTRIBUTES as readonly string[]).includes(name)) this.queueReconfigure();
    else this.applyFormAttributes(['width', 'height', 'steps', 'guidance', 'seed', 'prompt', 'output-format'].includes(name));
  }

  // ---- properties -------------------------------------------------------------------

  /** The model package URL (the `model` attribute). */
  get model(): string | null {
    return this.getAttribute('model');
  }
  set model(value: string | null) {
    if (value === null || value === undefined) this.removeAttribute('model');
    else if (typeof value !== 'string') throw new InvalidParameterError('model', 'the URL of a web model package (text), or null', value, 'wrong-type');
    else this.setAttribute('model', value);
  }

  /** The privacy mode (the `privacy` attribute). */
  get privacy(): PrivacyMode | null {
    return this.getAttribute('privacy') as PrivacyMode | null;
  }
  set privacy(value: PrivacyMode | null) {
    if (value === null || value === undefined) this.removeAttribute('privacy');
    else if (!PRIVACY_MODES.includes(value)) throw new InvalidParameterError('privacy', `one of ${PRIVACY_MODES.join(', ')}, or null`, value, typeof value === 'string' ? 'not-one-of' : 'wrong-type');
    else this.setAttribute('privacy', value);
  }

  /**
   * Hosted providers in order of preference. Set from script; configs may carry an
   * `apiKey` here (it stays in memory and goes only to that provider). Setting it
   * replaces the `provider`/`providers` attributes; `undefined` returns to them.
   */
  get providers(): (AnyProviderConfig | ImageEngine)[] {
    return this.config?.providers ?? [];
  }
  set providers(value: (AnyProviderConfig | ImageEngine)[] | undefined) {
    if (value !== undefined && value !== null && !Array.isArray(value)) {
      throw new InvalidParameterError('providers', 'an array of provider configs or engines, or undefined', value, 'wrong-type');
    }
    this.providersValue = value ? [...value] : undefined;
    this.queueReconfigure();
  }

  /** The shared generator this element uses (null while its configuration is invalid). */
  get generator(): Generator | null {
    return this.lease?.generator ?? null;
  }

  /** The last successful result. */
  get lastResult(): GenerateResult | undefined {
    return this.last;
  }

  /** Whether a generation is running. */
  get busy(): boolean {
    return this.runs.size > 0;
  }

  // ---- methods ----------------------------------------------------------------------

  /**
   * Generates, showing progress, preview and result in the element, and firing
   * `progress`, `image` and `error` events. Fields missing from `params` come from the
   * form. Resolves with the library's result (`createGenerator().generate`).
   * @throws what `generate` throws (after showing it and firing `error`)
   */
  async generate(params: Partial<GenerateParams> = {}): Promise<GenerateResult> {
    try {
      if (typeof params !== 'object' || params === null || Array.isArray(params)) {
        throw new InvalidParameterError('params', 'an object of generation parameters (or nothing: the form is used)', params, params === null ? 'missing' : 'wrong-type');
      }
      checkCallOptions(params);
    } catch (error) {
      this.showError(error);
      throw error;
    }
    this.flushReconfigure();
    const v = this.view;
    const run = ++this.uiRun;
    const isCurrent = () => run === this.uiRun;
    const controller = new AbortController();
    const outer = params.signal;
    const onOuterAbort = () => controller.abort();
    if (outer?.aborted) controller.abort();
    outer?.addEventListener('abort', onOuterAbort, { once: true });
    this.runs.add(controller);
    renderError(v, null);
    this.setBusy(true);

    let lease: GeneratorLease | undefined;
    try {
      if (!this.isConnected) throw new FluxError('a <flux-generator> generates only while it is in the document', 'not-in-document');
      if (this.configError || !this.config || !this.lease) throw this.configError ?? new InvalidParameterError('model', 'set (the model attribute)', null, 'missing');
      // Hold the generator for the whole run, even if the settings change meanwhile.
      lease = acquireGenerator(this.config);
      const generator = lease.generator;
      const guidance = this.modelControls.value();
      const form = { ...readForm(v), ...(guidance === undefined ? {} : { guidance }) };
      const { signal: _signal, ...fields } = params;
      // Checked once, here (the generator takes the checked request as it is).
      let request;
      try {
        request = generator.validate({ ...form, ...fields, preview: params.preview ?? this.defaults?.preview !== 'off' });
      } catch (error) {
        const field = (error as { field?: string }).field;
        if (field === 'guidance') this.modelControls.markInvalid();
        else markInvalid(v, field);
        throw error;
      }
      const tracker = new ProgressTracker();
      if (isCurrent()) {
        renderProgress(v, null, 'Starting…');
        v.progressBar.hidden = false;
        setFrameAspect(v, request.width, request.height);
      }
      const result = await generator.generate({
        ...request,
        signal: controller.signal,
        onProgress: (event) => {
          const shown = tracker.update(event);
          if (isCurrent()) {
            renderProgress(v, shown.fraction, shown.text);
            if (event.stage === 'denoise' && event.preview) drawPreview(v, event.preview, `Live preview, ${shown.detail}`);
            if (event.stage === 'remote') this.showRemote(event.provider);
          }
          const { text, fraction, etaMs } = shown;
          this.emit('progress', { ...event, fraction, text, etaMs } satisfies ProgressEventDetail);
        },
      });
      const detail: ImageEventDetail = {
        result,
        request: {
          prompt: request.prompt ?? '',
          width: result.width,
          height: result.height,
          steps: result.steps,
          ...(result.guidance === undefined ? {} : { guidance: result.guidance }),
          seed: result.seed,
          outputFormat: request.outputFormat,
          model: result.backend === 'local' ? this.config.model : undefined,
        },
      };
      this.last = result;
      if (isCurrent()) this.showResult(detail, generator);
      this.emit('image', detail);
      return result;
    } catch (error) {
      this.showError(error, isCurrent());
      throw error;
    } finally {
      outer?.removeEventListener('abort', onOuterAbort);
      this.runs.delete(controller);
      lease?.release();
      this.setBusy(this.runs.size > 0);
    }
  }

  /** Cancels every running generation of this element. */
  cancel(): void {
    for (const controller of this.runs) controller.abort();
  }

  /**
   * Where the next generation will run (and updates the privacy indicator).
   * @throws DeviceCapabilityError / InvalidParameterError as the library's `route()`
   */
  async route(): Promise<RouteDecision> {
    this.flushReconfigure();
    const token = ++this.routeToken;
    if (!this.lease) {
      const error = this.configError ?? new InvalidParameterError('model', 'set (the model attribute)', null);
      this.showRouteError(error, gpuApiPresent() ? undefined : false);
      throw error;
    }
    renderPrivacy(this.view, { where: 'checking' });
    const { generator } = this.lease;
    const privacy = this.config?.privacy;
    try {
      const decision = await generator.route();
      if (decision.onDevice) void this.showModelFamily(generator, token);
      const webgpu = await webGpuAvailable(generator, privacy);
      if (token === this.routeToken) this.showRoute(decision, webgpu);
      return decision;
    } catch (error) {
      const webgpu = await webGpuAvailable(generator, privacy);
      if (token === this.routeToken) this.showRouteError(error, webgpu);
      throw error;
    }
  }

  /**
   * Fills the form (prompt, width, height, steps, guidance, seed, outputFormat); `seed:
   * undefined` clears it. The guidance field is used only with a guidance-distilled ([dev]) model. Values are checked when generating; their types here.
   * @throws InvalidParameterError naming a field of the wrong type, or one the form does not have
   */
  setParams(params: Partial<Pick<GenerateParams, 'prompt' | 'width' | 'height' | 'steps' | 'guidance' | 'seed' | 'outputFormat'>>): void {
    checkFormParams(params);
    const v = this.view;
    if (params.prompt !== undefined) {
      v.prompt.value = params.prompt;
      this.tokenCounter.schedule();
    }
    if (params.width !== undefined) v.width.value = String(params.width);
    if (params.height !== undefined) v.height.value = String(params.height);
    if (params.steps !== undefined) v.steps.value = String(params.steps);
    if (params.guidance !== undefined) this.modelControls.guidance.value = String(params.guidance);
    if ('seed' in params) v.seed.value = params.seed === undefined ? '' : String(params.seed);
    if (params.outputFormat !== undefined) v.format.value = params.outputFormat;
    this.userEdited = true;
  }

  // ---- internals --------------------------------------------------------------------

  /** Shows an error in the element (when `show`) and fires `error`. */
  private showError(error: unknown, show = true): void {
    const v = this.view;
    const explained = explainError(error);
    if (show) {
      renderProgress(v, 0, explained.summary);
      v.progressBar.hidden = true;
      renderError(v, explained);
      if (explained.noWebGpu) renderNotice(v, { title: NO_WEBGPU.summary, text: NO_WEBGPU.action });
    }
    this.emit('error', { error, name: (error as Error)?.name ?? 'Error', ...explained, message: errorLine(explained) } satisfies ErrorEventDetail);
  }

  private emit(type: string, detail: unknown): void {
    this.dispatchEvent(new CustomEvent(type, { detail }));
  }

  /** Offers the steps and guidance of the local package's family (read from its manifest by the device check). */
  private async showModelFamily(generator: Generator, token: number): Promise<void> {
    const family = await generator.checkDevice().then((report) => report.model?.family, () => undefined);
    if (!family || token !== this.routeToken || family === this.modelControls.current || !this.defaults) return;
    this.modelControls.apply(family, this.defaults, false);
  }

  private setBusy(busy: boolean): void {
    const v = this.view;
    const active = this.shadowRoot?.activeElement;
    // Keep keyboard users in place: focus moves to the button that stays enabled before the
    // other one is disabled (a disabled button would drop focus to the page).
    if (busy) {
      v.cancelButton.disabled = false;
      if (active === v.generateButton) v.cancelButton.focus();
      v.generateButton.disabled = true;
    } else {
      v.generateButton.disabled = false;
      if (active === v.cancelButton) v.generateButton.focus();
      v.cancelButton.disabled = true;
    }
    v.root.toggleAttribute('aria-busy', busy);
    const spinner = document.createElement('span');
    spinner.className = 'spinner';
    spinner.setAttribute('aria-hidden', 'true');
    v.generateButton.replaceChildren(...(busy ? [spinner, 'Generating…'] : ['Generate']));
  }

  private showResult(detail: ImageEventDetail, generator: Generator): void {
    const v = this.view;
    const { result, request } = detail;
    const blob = result.images[0];
    if (this.resultUrl) URL.revokeObjectURL(this.resultUrl);
    this.resultUrl = URL.createObjectURL(blob);
    v.image.src = this.resultUrl;
    v.image.alt = imageAlt(request.prompt);
    v.image.width = result.width;
    v.image.height = result.height;
    v.image.hidden = false;
    v.preview.hidden = true;
    v.placeholder.hidden = true;
    setFrameAspect(v, result.width, result.height);
    const where = this.backendLabel(result.backend, generator);
    v.resultText.textContent = resultLine(result, where);
    const extension = blob.type.split('/')[1] === 'jpeg' ? 'jpg' : (blob.type.split('/')[1] ?? 'png');
    v.download.href = this.resultUrl;
    v.download.download = `flux-${result.seed}.${extension}`;
    v.download.setAttribute('aria-label', `Download the image (seed ${result.seed})`);
    v.result.hidden = false;
    v.progressBar.hidden = true;
    renderProgress(v, 1, doneLine(result));
    // The indicator after generating says where it actually ran.
    renderPrivacy(v, resultPrivacy(result, where));
  }

  private showRemote(providerId: string): void {
    renderPrivacy(this.view, remotePrivacy(this.backendLabel(providerId, this.lease?.generator)));
  }

  private backendLabel(backend: string, generator?: Generator | null): string {
    if (backend === 'local') return 'this device';
    return generator?.providers.find((p) => p.id === backend)?.label ?? PROVIDER_INFO[backend as ProviderKind]?.label ?? backend;
  }

  private showRoute(decision: RouteDecision, webgpu: boolean | undefined): void {
    renderPrivacy(this.view, routePrivacy(decision));
    renderNotice(this.view, routeNotice(decision, webgpu));
    const { backend, label, onDevice, reason } = decision;
    this.emit('route', { webgpu, backend, label, onDevice, reason } satisfies RouteEventDetail);
  }

  private showRouteError(error: unknown, webgpu?: boolean): void {
    const providers = this.config?.providers.length ?? 0;
    const localOnly = (this.config?.privacy ?? (providers ? 'prefer-local' : 'local-only')) === 'local-only';
    const shown = routeErrorPresentation(error, webgpu, localOnly);
    renderPrivacy(this.view, shown.privacy);
    renderNotice(this.view, shown.notice);
    this.emit('route', { webgpu: shown.noWebGpu ? false : webgpu, error, summary: shown.explained.summary, action: shown.explained.action } satisfies RouteEventDetail);
  }

  /** Reconfigures once after a burst of attribute changes (or on connection, when disconnected). */
  private queueReconfigure(): void {
    if (this.reconfigureQueued) return;
    this.reconfigureQueued = true;
    if (this.isConnected) queueMicrotask(() => this.flushReconfigure());
  }

  private flushReconfigure(): void {
    if (this.reconfigureQueued && this.isConnected) this.reconfigure();
  }

  /** Reads the attributes, borrows the matching shared generator, refreshes the indicator. */
  private reconfigure(): void {
    this.reconfigureQueued = false;
    const read = (name: string) => this.getAttribute(name);
    const previous = this.lease;
    try {
      const config = readGeneratorConfig(read);
      if (this.providersValue) config.providers = this.providersValue;
      if (!config.model && config.privacy !== 'remote-only') {
        throw new InvalidParameterError('model', 'the URL of a web model package (the model attribute), unless privacy is remote-only', config.model, 'missing');
      }
      this.lease = acquireGenerator(config);
      this.config = config;
      this.configError = undefined;
    } catch (error) {
      this.lease = undefined;
      this.config = undefined;
      this.configError = error;
    }
    previous?.release();
    this.applyFormAttributes(false);
    if (this.configError) {
      this.showRouteError(this.configError, gpuApiPresent() ? undefined : false);
      const explained = explainError(this.configError);
      renderError(this.view, explained);
      this.emit('error', { error: this.configError, name: (this.configError as Error).name, ...explained, message: errorLine(explained) } satisfies ErrorEventDetail);
      return;
    }
    renderError(this.view, null);
    this.route().catch(() => undefined); // shown in the indicator
    if (this.tokenCounter.shown) this.tokenCounter.schedule(0); // another model may count differently
  }

  private applyFormAttributes(valuesChanged: boolean): void {
    const allowAnySize = this.hasAttribute('allow-any-size') && this.getAttribute('allow-any-size') !== 'false';
    try {
      this.defaults = readFormDefaults((name) => this.getAttribute(name), allowAnySize);
    } catch (error) {
      // A bad attribute: shown, and reported as an `error` event naming the attribute.
      renderError(this.view, explainError(error));
      const explained = explainError(error);
      this.emit('error', { error, name: (error as Error).name, ...explained, message: errorLine(explained) } satisfies ErrorEventDetail);
      return;
    }
    applyDefaults(this.view, this.defaults, sizeRange(allowAnySize), { keepUserInput: this.userEdited && !valuesChanged });
    this.modelControls.apply(this.modelControls.current, this.defaults, this.userEdited && !valuesChanged);
    if (valuesChanged) this.userEdited = false;
  }
}

/** Defines `<flux-generator>` once (a second copy of the script is harmless). */
export function defineFluxGenerator(registry: CustomElementRegistry | undefined = globalThis.customElements): void {
  if (registry && !registry.get(TAG_NAME)) registry.define(TAG_NAME, FluxGeneratorElement);
}

declare global {
  interface HTMLElementTagNameMap {
    'flux-generator': FluxGeneratorElement;
  }
}
