/**
 * The app page: prompt and settings, Generate/Cancel, progress, results, and the stored
 * models. All heavy work happens in the generator's worker; this file only renders.
 */
import type { GenerateResult, OutputFormat } from '../api-types.ts';
import { createGenerator, type Generator } from '../generator.ts';
import { DEFAULTS, LIMITS } from '../defaults.ts';
import { formatBytes, MODEL_REGISTRY } from '../models/registry.ts';
import { h } from './dom.ts';
import { describeError, describeProgress } from './messages.ts';

const CUSTOM = '__custom__';

/** Renders the app into `root`. */
export function mountApp(root: HTMLElement): void {
  let generator: Generator | null = null;
  let generatorUrl = '';
  let running: AbortController | null = null;

  const modelSelect = h('select', { id: 'model', name: 'model' },
    ...MODEL_REGISTRY.map((m) => h('option', { value: m.url }, m.name)),
    h('option', { value: CUSTOM }, 'Another package URL…'));
  const customUrl = h('input', { id: 'model-url', name: 'model-url', type: 'url', placeholder: 'https://example.com/models/my-flux/', hidden: true });
  const prompt = h('textarea', { id: 'prompt', name: 'prompt', required: true, maxlength: LIMITS.prompt.maxChars, placeholder: 'A red fox in fresh snow, morning light' });
  const sideInput = (id: string, label: string) =>
    h('input', { id, name: id, type: 'number', min: LIMITS.webSize.min, max: LIMITS.webSize.max, step: LIMITS.sizeMultiple, value: 512, 'aria-label': label });
  const width = sideInput('width', 'Width in pixels');
  const height = sideInput('height', 'Height in pixels');
  const steps = h('select', { id: 'steps', name: 'steps' }, ...[1, 2, 3, 4].map((n) => h('option', { value: n, selected: n === DEFAULTS.steps }, String(n))));
  const seed = h('input', { id: 'seed', name: 'seed', type: 'number', min: LIMITS.seed.min, max: LIMITS.seed.max, placeholder: 'random' });
  const format = h('select', { id: 'format', name: 'format' }, ...['png', 'jpeg', 'webp'].map((f) => h('option', { value: f }, f.toUpperCase())));
  const generateButton = h('button', { type: 'submit', id: 'generate' }, 'Generate');
  const cancelButton = h('button', { type: 'button', id: 'cancel', class: 'secondary', disabled: true }, 'Cancel');
  const progressBar = h('progress', { id: 'progress', max: 1, value: 0, 'aria-label': 'Progress' });
  const status = h('p', { id: 'status', class: 'status', role: 'status', 'aria-live': 'polite' });
  const deviceLine = h('p', { id: 'device', class: 'hint' }, 'Checking this device…');
  const output = h('section', { id: 'output', class: 'output', 'aria-label': 'Generated images' });
  const storedBody = h('tbody', { id: 'stored-models' });

  const form = h('form', { id: 'generate-form', novalidate: true },
    h('label', { for: 'model' }, 'Model', modelSelect, customUrl),
    h('label', { for: 'prompt' }, 'Prompt', prompt, h('span', { class: 'hint' }, 'T5 reads up to 256 tokens and CLIP 77; you are told if words are cut.')),
    h('div', { class: 'row' },
      h('label', { for: 'width' }, 'Width', width),
      h('label', { for: 'height' }, 'Height', height),
      h('label', { for: 'steps' }, 'Steps', steps)),
    h('div', { class: 'row' },
      h('label', { for: 'seed' }, 'Seed', seed),
      h('label', { for: 'format' }, 'Format', format)),
    h('p', { class: 'privacy', id: 'privacy' }, 'Runs on this device: your prompt and images never leave it. Only the model files are downloaded, once.'),
    h('div', { class: 'actions' }, generateButton, cancelButton),
    progressBar,
    status);

  root.replaceChildren(
    h('header', {}, h('h1', {}, 'FLUX.1 [schnell] on your own GPU'), h('p', { class: 'tagline' }, 'Text to image with WebGPU, entirely in this browser.')),
    h('div', { class: 'layout' },
      h('section', { class: 'panel', 'aria-label': 'Settings' }, form, deviceLine),
      h('div', { class: 'panel' }, output)),
    h('section', { class: 'panel', 'aria-labelledby': 'stored-title' },
      h('h2', { id: 'stored-title' }, 'Stored models'),
      h('table', {}, h('thead', {}, h('tr', {}, h('th', {}, 'Package'), h('th', {}, 'Stored'), h('th', {}, ''))), storedBody)),
  );

  const modelUrl = () => new URL(modelSelect.value === CUSTOM ? customUrl.value : modelSelect.value, location.href).href;
  const currentGenerator = () => {
    const url = modelUrl();
    if (!generator || generatorUrl !== url) {
      generator?.dispose();
      generator = createGenerator({ model: url });
      generatorUrl = url;
    }
    return generator;
  };

  const setRunning = (on: boolean) => {
    generateButton.disabled = on;
    cancelButton.disabled = !on;
  };

  const refreshStored = async () => {
    const models = await currentGenerator().listModels();
    storedBody.replaceChildren(...(models.length
      ? models.map((m) => h('tr', {},
        h('td', {}, m.modelId ?? m.packageUrl),
        h('td', {}, `${formatBytes(m.bytesStored)}${m.complete ? '' : ` of ${formatBytes(m.bytesTotal)}`}`),
        h('td', {}, h('button', { type: 'button', class: 'secondary', 'aria-label': `Delete ${m.modelId ?? m.packageUrl}`, onclick: async () => {
          await currentGenerator().deleteModel(m.packageUrl);
          await refreshStored();
        } }, 'Delete'))))
      : [h('tr', {}, h('td', { colspan: 3, class: 'hint' }, 'No model stored yet.'))]));
  };

  const checkDevice = async () => {
    deviceLine.textContent = 'Checking this device…';
    try {
      const report = await currentGenerator().checkDevice();
      deviceLine.textContent = report.ok ? `This device can run ${report.modelId}.` : `This device cannot run this model locally: ${report.reasons.join('; ')}`;
    } catch (error) {
      deviceLine.textContent = describeError(error);
    }
  };

  const showResult = (result: GenerateResult) => {
    const figures = result.images.map((blob, i) => {
      const url = URL.createObjectURL(blob);
      const name = `flux-${result.seed + i}.${blob.type.split('/')[1] ?? 'png'}`;
      return h('figure', {},
        h('img', { src: url, alt: `Generated image for “${prompt.value.slice(0, 80)}”, seed ${result.seed + i}`, width: result.width, height: result.height }),
        h('figcaption', {},
          `Seed ${result.seed + i} · ${result.width}×${result.height} · ${result.steps} steps · ${(result.timings.totalMs / 1000).toFixed(1)} s on ${result.backend === 'local' ? 'this device' : result.backend} · `,
          h('a', { href: url, download: name }, 'Download')));
    });
    output.prepend(...figures);
  };

  modelSelect.addEventListener('change', () => {
    customUrl.hidden = modelSelect.value !== CUSTOM;
    if (modelSelect.value !== CUSTOM) void checkDevice();
  });
  customUrl.addEventListener('change', () => void checkDevice());
  cancelButton.addEventListener('click', () => running?.abort());
  form.addEventListener('submit', async (event) => {
    event.preventDefault();
    if (running) return;
    running = new AbortController();
    setRunning(true);
    status.classList.remove('error');
    status.textContent = 'Starting…';
    progressBar.removeAttribute('value');
    try {
      const result = await currentGenerator().generate({
        prompt: prompt.value,
        width: Number(width.value),
        height: Number(height.value),
        steps: Number(steps.value),
        seed: seed.value === '' ? undefined : Number(seed.value),
        outputFormat: format.value as OutputFormat,
        signal: running.signal,
        onProgress: (e) => {
          const { fraction, text } = describeProgress(e);
          status.textContent = text;
          if (fraction === null) progressBar.removeAttribute('value');
          else progressBar.value = fraction;
        },
      });
      showResult(result);
      status.textContent = [`Done in ${(result.timings.totalMs / 1000).toFixed(1)} s (seed ${result.seed}).`, ...result.warnings].join(' ');
      progressBar.value = 1;
    } catch (error) {
      status.textContent = describeError(error);
      status.classList.add('error');
      progressBar.value = 0;
    } finally {
      running = null;
      setRunning(false);
      void refreshStored();
    }
  });

  void checkDevice();
  void refreshStored();
}
