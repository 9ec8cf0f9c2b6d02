/**
 * The app page: the `<flux-generator>` widget in full-page mode, plus what a returning
 * visitor needs around it — the model and "where it runs" choices, a gallery of past
 * generations (IndexedDB), hosted-provider settings with keys (this browser only), the
 * storage manager, and a plain explanation when the browser has no WebGPU.
 */
import type { ImageEventDetail, RouteEventDetail } from '../widget/flux-generator.ts';
import { defineFluxGenerator, type FluxGeneratorElement } from '../widget/flux-generator.ts';
import { WIDGET_DEFAULTS } from '../defaults.ts';
import { licenseNotice, MODEL_REGISTRY } from '../models/registry.ts';
import { PRIVACY_MODES, type PrivacyMode } from '../routing.ts';
import { DEFAULTS } from '../defaults.ts';
import { MEMORY_OPTIONS, type MemoryOption } from '../engine/memory-plan.ts';
import { h } from '../widget/dom.ts';
import { GalleryStore, type GalleryEntry } from './gallery-store.ts';
import { createGalleryView } from './gallery-view.ts';
import { NO_WEBGPU } from '../widget/presenter.ts';
import { createProviderSettings } from './provider-settings.ts';
import { providerConfigs, settingsStore } from './settings-store.ts';
import { createStorageView } from './storage-view.ts';
import { createHubImportView } from './hub-import-view.ts';
import { isImportedPackageUrl } from '../import/hub-model-source.ts';

const CUSTOM = '__custom__';
/** The model choice that opens the Hugging Face import panel (its models are imported into this browser). */
const HUB = '__hub__';
/** The demo package makes tiny noise-like images: any size is fine, and small ones are instant. */
const DEMO_ID = 'flux-webgpu/tiny-demo';
const DEMO_SIDE = 128;

const PRIVACY_LABELS: Record<PrivacyMode, string> = {
  'local-only': 'Only this device (nothing is sent)',
  'prefer-local': 'This device; a hosted provider when it cannot',
  'remote-only': 'Always a hosted provider',
};

const MEMORY_LABELS: Record<MemoryOption, string> = {
  auto: 'Automatic (fastest that fits)',
  resident: 'Keep everything loaded (fastest repeats)',
  staged: 'One part at a time (less memory)',
  streaming: 'Smallest pieces (least memory, slowest)',
};

/** Renders the app into `root` (the page's `<main>`). */
export function mountApp(root: HTMLElement): void {
  defineFluxGenerator();
  const gallery = new GalleryStore();

  // ---- announcements (one live region for the whole page) ----
  const announcer = h('p', { class: 'announcer', id: 'announcer', role: 'status', 'aria-live': 'polite' });
  let announceTimer: ReturnType<typeof setTimeout> | undefined;
  const announce = (message: string) => {
    announcer.textContent = message;
    clearTimeout(announceTimer);
    announceTimer = setTimeout(() => (announcer.textContent = ''), 6000);
  };

  // ---- model and privacy ----
  const savedModel = settingsStore.model();
  const knownModel = MODEL_REGISTRY.find((m) => m.url === savedModel);
  const modelSelect = h('select', { id: 'model', name: 'model', 'aria-describedby': 'model-hint' },
    ...MODEL_REGISTRY.map((m) => h('option', { value: m.url }, m.license.commercialUse ? m.name : `${m.name} (non-commercial licence)`)),
    h('option', { value: HUB }, 'FLUX.1 from Hugging Face…'),
    h('option', { value: CUSTOM }, 'Another package URL…'));
  const savedImport = savedModel !== undefined && isImportedPackageUrl(savedModel);
  modelSelect.value = savedModel === undefined ? MODEL_REGISTRY[0].url : knownModel ? knownModel.url : savedImport ? HUB : CUSTOM;
  const customUrl = h('input', { id: 'model-url', name: 'model-url', type: 'url', placeholder: 'https://example.com/models/flux1-schnell-q4/', spellcheck: 'false', autocomplete: 'url' });
  customUrl.value = savedModel !== undefined && !knownModel && !savedImport ? savedModel : '';
  const customButton = h('button', { type: 'button', class: 'secondary', id: 'model-url-use' }, 'Use this package');
  const customRow = h('div', { class: 'custom-model', hidden: modelSelect.value !== CUSTOM }, h('label', { for: 'model-url' }, 'Package URL', customUrl), customButton);
  const modelHint = h('p', { id: 'model-hint', class: 'hint' });

  const privacySelect = h('select', { id: 'privacy-mode', name: 'privacy-mode', 'aria-describedby': 'privacy-mode-hint' },
    ...PRIVACY_MODES.map((m) => h('option', { value: m }, PRIVACY_LABELS[m])));
  privacySelect.value = settingsStore.privacy() ?? 'local-only';

  const memorySelect = h('select', { id: 'memory-plan', name: 'memory-plan', 'aria-describedby': 'memory-plan-hint' },
    ...MEMORY_OPTIONS.map((m) => h('option', { value: m }, MEMORY_LABELS[m])));
  memorySelect.value = settingsStore.memory() ?? DEFAULTS.memory;

  const widget = document.createElement('flux-generator') as FluxGeneratorElement;
  widget.id = 'generator';
  widget.setAttribute('layout', 'page');
  widget.setAttribute('theme', 'auto');

  /** The imported package in use (set once an import is done, or from the saved choice). */
  let importedUrl = savedImport ? savedModel : undefined;
  const modelUrl = () => (modelSelect.value === CUSTOM ? customUrl.value.trim() : modelSelect.value === HUB ? (importedUrl ?? '') : modelSelect.value);
  const applyModel = () => {
    const url = modelUrl();
    const entry = MODEL_REGISTRY.find((m) => m.url === url);
    hubView.element.hidden = modelSelect.value !== HUB;
    const text = entry
      ? entry.description
      : modelSelect.value === HUB
        ? url ? 'FLUX.1 [schnell] imported from Hugging Face into this browser.' : 'Choose a source below and import it; the generator uses it once it is imported.'
        : url ? 'A web model package made by `flux-webgpu convert`; its manifest is read before anything else is downloaded.' : 'Enter the URL of a model package.';
    // The licence is shown on choosing the model, before anything is downloaded.
    const license = entry
      ? h('span', { class: 'license', id: 'model-license', 'data-commercial': String(entry.license.commercialUse) }, licenseNotice(entry), ' ',
        h('a', { href: entry.license.url, target: '_blank', rel: 'noopener noreferrer' }, 'Read the licence'))
      : null;
    modelHint.replaceChildren(text, ...(license ? [' ', license] : []));
    if (!url) return;
    settingsStore.setModel(url);
    const demo = entry?.id === DEMO_ID;
    widget.toggleAttribute('allow-any-size', demo);
    widget.setAttribute('width', String(demo ? DEMO_SIDE : WIDGET_DEFAULTS.side));
    widget.setAttribute('height', String(demo ? DEMO_SIDE : WIDGET_DEFAULTS.side));
    widget.setAttribute('model', url);
    // The widget swaps its generator in a microtask; list the new model's storage after it.
    if (widget.isConnected) queueMicrotask(() => void storage.refresh());
  };
  const applyMemory = () => {
    settingsStore.setMemory(memorySelect.value as MemoryOption);
    widget.setAttribute('memory', memorySelect.value);
  };
  const applyPrivacy = () => {
    settingsStore.setPrivacy(privacySelect.value as PrivacyMode);
    widget.setAttribute('privacy', privacySelect.value);
    providers.refresh();
  };

  // ---- no WebGPU ----
  const providersButton = h('button', { type: 'button', id: 'no-webgpu-providers' }, 'Choose a hosted provider');
  const banner = h('section', { class: 'banner', id: 'no-webgpu', 'aria-labelledby': 'no-webgpu-title', hidden: true },
    h('h2', { id: 'no-webgpu-title' }, NO_WEBGPU.summary),
    h('p', {}, 'WebGPU lets a web page use your graphics card; this generator needs it to run the model here. Try a recent Chrome or Edge on a desktop or laptop (or another browser with WebGPU turned on).'),
    h('p', {}, 'You can still make images with a hosted provider: your prompt is then sent to that provider, and the page says so each time.'),
    providersButton);
  const showNoWebGpu = (show: boolean) => (banner.hidden = !show);

  // ---- sections ----
  const providers = createProviderSettings({
    onChange: (list) => {
      widget.providers = providerConfigs(list);
    },
    privacy: () => privacySelect.value as PrivacyMode,
    setPrivacy: (mode) => {
      privacySelect.value = mode;
      applyPrivacy();
      announce(`Where it runs: ${PRIVACY_LABELS[mode]}.`);
    },
  });
  providersButton.addEventListener('click', () => {
    providers.element.scrollIntoView({ block: 'start' });
    providers.focus();
  });

  const galleryView = createGalleryView({
    store: gallery,
    announce,
    changed: () => void storage.refresh(),
    regenerate: (entry: GalleryEntry) => {
      const strength = entry.input ? { strength: entry.strength } : {};
      widget.setParams({ prompt: entry.prompt, width: entry.width, height: entry.height, steps: entry.steps, seed: entry.seed, ...strength, ...(entry.guidance === undefined ? {} : { guidance: entry.guidance }) });
      // The same input picture (as it was fitted) and strength: the same pixels again.
      widget.setInputImage(entry.input ?? null);
      announce(`Generating again with seed ${entry.seed}${entry.input ? ` from the same input picture, strength ${entry.strength}` : ''}.`);
      widget.scrollIntoView({ block: 'nearest' });
      widget.generate({ prompt: entry.prompt, width: entry.width, height: entry.height, steps: entry.steps, seed: entry.seed, ...(entry.guidance === undefined ? {} : { guidance: entry.guidance }), ...(entry.input ? { image: entry.input, ...strength } : {}) }).catch(() => undefined);
    },
    useAsInput: (entry: GalleryEntry) => {
      widget.setInputImage(entry.image);
      announce('The image is now the input picture: the next generation starts from it.');
      widget.scrollIntoView({ block: 'nearest' });
    },
  });

  const hubView = createHubImportView({
    announce,
    listModels: () => widget.generator?.listModels() ?? null,
    use: (url) => {
      importedUrl = url;
      modelSelect.value = HUB;
      applyModel();
    },
    changed: () => void storage.refresh(),
  });

  const storage = createStorageView({
    gallery,
    announce,
    listModels: () => widget.generator?.listModels() ?? null,
    deleteModel: async (url) => {
      await widget.generator?.deleteModel(url);
    },
    galleryCleared: () => void galleryView.refresh(),
  });

  // Configure the widget before it is connected, so it starts with the right generator.
  widget.setAttribute('privacy', privacySelect.value);
  widget.setAttribute('memory', memorySelect.value);
  widget.providers = providerConfigs(settingsStore.providers());
  applyModel();

  root.replaceChildren(
    banner,
    h('section', { class: 'panel controls', 'aria-label': 'Model and privacy' },
      h('div', { class: 'control' }, h('label', { for: 'model' }, 'Model', modelSelect), customRow, modelHint),
      h('div', { class: 'control' },
        h('label', { for: 'privacy-mode' }, 'Where it runs', privacySelect),
        h('p', { id: 'privacy-mode-hint', class: 'hint' }, 'The indicator by the Generate button always says where your prompt goes.')),
      h('div', { class: 'control' },
        h('label', { for: 'memory-plan' }, 'GPU memory', memorySelect),
        h('p', { id: 'memory-plan-hint', class: 'hint' }, 'Automatic picks the fastest plan your GPU has room for; each result says which plan ran and why.'))),
    hubView.element,
    widget,
    galleryView.element,
    h('div', { class: 'columns' }, providers.element, storage.element),
    announcer,
  );

  // ---- wiring ----
  widget.addEventListener('image', (event) => {
    const { result, request } = (event as unknown as CustomEvent<ImageEventDetail>).detail;
    const backendLabel = result.backend === 'local' ? 'this device' : (widget.generator?.providers.find((p) => p.id === result.backend)?.label ?? result.backend);
    void (async () => {
      for (const [i, image] of result.images.entries()) {
        await gallery.add({
          image,
          prompt: request.prompt,
          seed: (result.seed + i) % 2 ** 32,
          width: result.width,
          height: result.height,
          steps: result.steps,
          ...(result.guidance === undefined ? {} : { guidance: result.guidance }),
          backend: result.backend,
          backendLabel,
          totalMs: result.timings.totalMs,
          model: request.model,
          ...(request.image ? { input: request.image, strength: request.strength } : {}),
        });
      }
      await galleryView.refresh();
      await storage.refresh();
    })();
  });
  widget.addEventListener('route', (event) => {
    const detail = (event as unknown as CustomEvent<RouteEventDetail>).detail;
    if (detail.webgpu !== undefined) showNoWebGpu(!detail.webgpu);
  });
  modelSelect.addEventListener('change', () => {
    customRow.hidden = modelSelect.value !== CUSTOM;
    if (modelSelect.value === CUSTOM) customUrl.focus();
    else applyModel();
    if (modelSelect.value === HUB) void hubView.refresh();
  });
  customButton.addEventListener('click', applyModel);
  customUrl.addEventListener('keydown', (event) => {
    if (event.key === 'Enter') applyModel();
  });
  privacySelect.addEventListener('change', applyPrivacy);
  memorySelect.addEventListener('change', applyMemory);

  showNoWebGpu(!('gpu' in navigator));
  void galleryView.refresh();
  void storage.refresh();
  if (modelSelect.value === HUB) void hubView.refresh();
}
