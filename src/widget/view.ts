/**
 * The DOM of one `<flux-generator>` (inside its shadow root) and the small functions that
 * render state into it. No behaviour here: the element (flux-generator.ts) decides.
 *
 * Styles come from one constructable stylesheet (adoptedStyleSheets), so a strict
 * Content-Security-Policy (no 'unsafe-inline') holds; inline `style` attributes are never
 * written (sizes go through the CSSOM, which CSP allows).
 */
import type { GenerateParams, OutputFormat } from '../api-types.ts';
import { LIMITS } from '../defaults.ts';
import { h } from './dom.ts';
import type { FormDefaults } from './config.ts';
import css from './widget.css?inline';

let sharedSheet: CSSStyleSheet | undefined;

/** Gives the shadow root its styles: one shared constructable stylesheet. */
export function adoptStyles(root: ShadowRoot): void {
  if ('adoptedStyleSheets' in root && typeof CSSStyleSheet !== 'undefined' && 'replaceSync' in CSSStyleSheet.prototype) {
    if (!sharedSheet) {
      sharedSheet = new CSSStyleSheet();
      sharedSheet.replaceSync(css);
    }
    root.adoptedStyleSheets = [sharedSheet];
  } else {
    // Old browsers without constructable stylesheets (they then need style-src 'unsafe-inline').
    root.append(h('style', {}, css));
  }
}

const SVG = 'http://www.w3.org/2000/svg';

/** A 20×20 icon from one path (decorative: hidden from screen readers). */
function icon(path: string): SVGSVGElement {
  const svg = document.createElementNS(SVG, 'svg');
  svg.setAttribute('viewBox', '0 0 20 20');
  svg.setAttribute('class', 'icon');
  svg.setAttribute('aria-hidden', 'true');
  svg.setAttribute('focusable', 'false');
  const p = document.createElementNS(SVG, 'path');
  p.setAttribute('d', path);
  p.setAttribute('fill', 'currentColor');
  svg.append(p);
  return svg;
}

const ICONS = {
  /** A padlock. */
  local: 'M10 1.5a4.5 4.5 0 0 0-4.5 4.5v2H4.75A1.75 1.75 0 0 0 3 9.75v7.5C3 18.22 3.78 19 4.75 19h10.5c.97 0 1.75-.78 1.75-1.75v-7.5C17 8.78 16.22 8 15.25 8H14.5V6A4.5 4.5 0 0 0 10 1.5Zm-3 4.5a3 3 0 1 1 6 0v2H7V6Zm3 5a1.5 1.5 0 0 1 .75 2.8V15.5a.75.75 0 0 1-1.5 0v-1.7A1.5 1.5 0 0 1 10 11Z',
  /** An arrow leaving towards a cloud. */
  remote: 'M6.5 16A4.5 4.5 0 0 1 5.9 7.04a5.5 5.5 0 0 1 10.63 1.6A3.75 3.75 0 0 1 15.25 16H13v-1.5h2.25a2.25 2.25 0 0 0 .3-4.48l-.7-.1-.05-.7a4 4 0 0 0-7.74-1.16l-.2.55-.58.03A3 3 0 0 0 6.5 14.5H7V16h-.5Zm3.47-7.03a.75.75 0 0 1 1.06 0l2.25 2.25a.75.75 0 1 1-1.06 1.06l-.97-.97V18a.75.75 0 0 1-1.5 0v-7.69l-.97.97a.75.75 0 0 1-1.06-1.06l2.25-2.25Z',
  /** A warning sign. */
  none: 'M8.26 2.6a2 2 0 0 1 3.48 0l6.5 11.5A2 2 0 0 1 16.5 17h-13a2 2 0 0 1-1.74-2.9l6.5-11.5ZM10 6.5a.75.75 0 0 0-.75.75v4.5a.75.75 0 0 0 1.5 0v-4.5A.75.75 0 0 0 10 6.5Zm0 8.75a1 1 0 1 0 0-2 1 1 0 0 0 0 2Z',
  /** A clock. */
  checking: 'M10 2a8 8 0 1 1 0 16 8 8 0 0 1 0-16Zm0 1.5a6.5 6.5 0 1 0 0 13 6.5 6.5 0 0 0 0-13Zm0 2a.75.75 0 0 1 .75.75v3.44l2.28 2.28a.75.75 0 1 1-1.06 1.06l-2.5-2.5A.75.75 0 0 1 9.25 10V6.25A.75.75 0 0 1 10 5.5Z',
};

/** Where the prompt goes, for the privacy indicator. */
export type PrivacyState =
  | { where: 'checking' }
  | { where: 'local'; title: string; why: string }
  | { where: 'remote'; title: string; why: string }
  | { where: 'none'; title: string; why: string };

/** The element's parts. */
export interface WidgetView {
  root: HTMLDivElement;
  form: HTMLFormElement;
  prompt: HTMLTextAreaElement;
  width: HTMLInputElement;
  height: HTMLInputElement;
  steps: HTMLSelectElement;
  seed: HTMLInputElement;
  format: HTMLSelectElement;
  generateButton: HTMLButtonElement;
  cancelButton: HTMLButtonElement;
  privacy: HTMLParagraphElement;
  notice: HTMLDivElement;
  progressBox: HTMLDivElement;
  progressBar: HTMLProgressElement;
  status: HTMLParagraphElement;
  frame: HTMLDivElement;
  placeholder: HTMLParagraphElement;
  preview: HTMLCanvasElement;
  image: HTMLImageElement;
  result: HTMLParagraphElement;
  resultText: HTMLSpanElement;
  download: HTMLAnchorElement;
  error: HTMLDivElement;
}

/** Builds the element's DOM into `shadow`. */
export function buildView(shadow: ShadowRoot): WidgetView {
  adoptStyles(shadow);
  const numberInput = (id: string, min: number, max: number, step: number, extra: Record<string, string | number | boolean> = {}) =>
    h('input', { id, name: id, part: 'input', type: 'number', inputmode: 'numeric', min, max, step, ...extra });
  const field = (id: string, label: string, control: HTMLElement, hint?: HTMLElement) =>
    h('div', { class: 'field' }, h('label', { for: id, class: 'label', part: 'label' }, label), control, hint);

  const prompt = h('textarea', {
    id: 'prompt', name: 'prompt', part: 'prompt input', rows: 3, maxlength: LIMITS.prompt.maxChars, required: true,
    placeholder: 'A red fox in fresh snow, morning light', 'aria-describedby': 'prompt-hint', autocomplete: 'off', spellcheck: true,
  });
  const width = numberInput('width', LIMITS.webSize.min, LIMITS.webSize.max, LIMITS.sizeMultiple);
  const height = numberInput('height', LIMITS.webSize.min, LIMITS.webSize.max, LIMITS.sizeMultiple);
  const steps = h('select', { id: 'steps', name: 'steps', part: 'input' }, ...[1, 2, 3, 4].map((n) => h('option', { value: n }, String(n))));
  const seed = numberInput('seed', LIMITS.seed.min, LIMITS.seed.max, 1, { placeholder: 'random' });
  const format = h('select', { id: 'format', name: 'format', part: 'input' }, ...['png', 'jpeg', 'webp'].map((f) => h('option', { value: f }, f.toUpperCase())));
  const generateButton = h('button', { type: 'submit', class: 'generate', part: 'generate-button' }, 'Generate');
  const cancelButton = h('button', { type: 'button', class: 'secondary cancel', part: 'cancel-button', disabled: true }, 'Cancel');
  const privacy = h('p', { class: 'privacy', part: 'privacy', id: 'privacy', 'aria-live': 'polite', 'data-where': 'checking' });
  const notice = h('div', { class: 'notice', part: 'notice', role: 'note', hidden: true });
  const form = h('form', { class: 'form', part: 'form', novalidate: true, 'aria-label': 'Image generator' },
    field('prompt', 'Prompt', prompt, h('p', { id: 'prompt-hint', class: 'hint' }, 'Describe the image. Ctrl+Enter generates.')),
    h('fieldset', { class: 'settings', part: 'settings' },
      h('legend', {}, 'Image settings'),
      field('width', 'Width', width),
      field('height', 'Height', height),
      field('steps', 'Steps', steps),
      field('seed', 'Seed', seed),
      field('format', 'Format', format)),
    notice,
    privacy,
    h('div', { class: 'actions' }, generateButton, cancelButton));

  const progressBar = h('progress', { part: 'progress-bar', max: 1, value: 0, 'aria-label': 'Generation progress', hidden: true });
  const status = h('p', { class: 'status', part: 'status', role: 'status', 'aria-live': 'polite' }, 'Ready.');
  const progressBox = h('div', { class: 'progress', part: 'progress' }, progressBar, status);
  const placeholder = h('p', { class: 'placeholder' }, 'Your image will appear here.');
  const preview = h('canvas', { part: 'preview', width: 1, height: 1, role: 'img', 'aria-label': 'Live preview', hidden: true });
  const image = h('img', { part: 'image', alt: '', hidden: true, decoding: 'async' });
  const frame = h('div', { class: 'frame', part: 'frame' }, placeholder, preview, image);
  const resultText = h('span', {});
  const download = h('a', { part: 'download', href: '#', download: 'flux.png' }, 'Download');
  const result = h('p', { class: 'result', part: 'result', hidden: true }, resultText, download);
  const error = h('div', { class: 'error', part: 'error', role: 'alert', hidden: true });
  const stage = h('section', { class: 'stage', 'aria-label': 'Result' }, progressBox, frame, result, error);

  const root = h('div', { class: 'root', part: 'container' }, form, stage);
  shadow.append(root);
  return { root, form, prompt, width, height, steps, seed, format, generateButton, cancelButton, privacy, notice, progressBox, progressBar, status, frame, placeholder, preview, image, result, resultText, download, error };
}

/** Puts the defaults into the form and applies layout, theme, preview mode and the size range. */
export function applyDefaults(view: WidgetView, defaults: FormDefaults, range: { min: number; max: number }, options: { keepUserInput: boolean }): void {
  for (const input of [view.width, view.height]) {
    input.min = String(range.min);
    input.max = String(range.max);
  }
  if (!options.keepUserInput) {
    view.width.value = String(defaults.width);
    view.height.value = String(defaults.height);
    view.steps.value = String(defaults.steps);
    view.seed.value = defaults.seed === undefined ? '' : String(defaults.seed);
    view.format.value = defaults.outputFormat;
    if (defaults.prompt) view.prompt.value = defaults.prompt;
  }
  view.root.dataset.layout = defaults.layout;
  view.root.dataset.theme = defaults.theme;
  view.frame.dataset.preview = defaults.preview;
}

/** Shows where the prompt will go (or went). */
export function renderPrivacy(view: WidgetView, state: PrivacyState): void {
  view.privacy.dataset.where = state.where;
  const title = state.where === 'checking' ? 'Checking where this will run…' : state.title;
  const why = state.where === 'checking' ? '' : state.why;
  view.privacy.replaceChildren(icon(ICONS[state.where]), h('span', {}, h('strong', {}, title), why ? h('span', { class: 'why' }, why) : null));
}

/** Shows an explained error (or hides the box with `null`). */
export function renderError(view: WidgetView, error: { summary: string; action: string; detail: string } | null): void {
  view.error.hidden = !error;
  if (!error) return view.error.replaceChildren();
  const parts: Node[] = [h('strong', {}, error.summary), h('span', {}, error.action)];
  if (error.detail && error.detail !== error.summary) parts.push(h('span', { class: 'detail' }, error.detail));
  view.error.replaceChildren(...parts);
}

/** Shows the plain notice (e.g. no WebGPU), or hides it with `null`. */
export function renderNotice(view: WidgetView, notice: { title: string; text: string } | null): void {
  view.notice.hidden = !notice;
  view.notice.replaceChildren(...(notice ? [h('strong', {}, notice.title), h('span', {}, notice.text)] : []));
}

/** Sets the progress bar (null: indeterminate) and its text. */
export function renderProgress(view: WidgetView, fraction: number | null, text: string): void {
  if (fraction === null) view.progressBar.removeAttribute('value');
  else view.progressBar.value = Math.min(1, Math.max(0, fraction));
  view.progressBar.setAttribute('aria-valuetext', text);
  view.status.textContent = text;
}

/** Draws a denoising preview (RGBA at latent resolution) into the canvas; CSS scales it up. */
export function drawPreview(view: WidgetView, preview: { width: number; height: number; rgba: Uint8ClampedArray }, label: string): void {
  const canvas = view.preview;
  if (canvas.width !== preview.width || canvas.height !== preview.height) {
    canvas.width = preview.width;
    canvas.height = preview.height;
  }
  const context = canvas.getContext('2d');
  if (!context) return;
  const pixels = preview.rgba instanceof Uint8ClampedArray ? preview.rgba : new Uint8ClampedArray(preview.rgba);
  context.putImageData(new ImageData(new Uint8ClampedArray(pixels), preview.width, preview.height), 0, 0);
  canvas.setAttribute('aria-label', label);
  canvas.hidden = false;
  view.image.hidden = true;
  view.placeholder.hidden = true;
}

/** Sets the frame's aspect ratio to the image's (CSSOM, allowed under CSP). */
export function setFrameAspect(view: WidgetView, width: number, height: number): void {
  view.frame.style.aspectRatio = `${width} / ${height}`;
}

/** The form's values as request fields (an empty number field reads as NaN: refused when checked; an empty seed as absent). */
export function readForm(view: WidgetView): Required<Pick<GenerateParams, 'prompt' | 'width' | 'height' | 'steps' | 'outputFormat'>> & { seed?: number } {
  const num = (input: HTMLInputElement | HTMLSelectElement) => (input.value.trim() === '' ? Number.NaN : Number(input.value));
  return {
    prompt: view.prompt.value,
    width: num(view.width),
    height: num(view.height),
    steps: num(view.steps),
    seed: view.seed.value.trim() === '' ? undefined : Number(view.seed.value),
    outputFormat: view.format.value as OutputFormat,
  };
}

/** Marks the input of a refused field (`field` of an InvalidParameterError) and focuses it. */
export function markInvalid(view: WidgetView, field: string | undefined): void {
  const input = ({ prompt: view.prompt, width: view.width, height: view.height, steps: view.steps, seed: view.seed } as Record<string, HTMLElement>)[field ?? ''];
  if (!input) return;
  input.setAttribute('aria-invalid', 'true');
  input.focus();
}
