/**
 * `embed.html`: the generator for sites that cannot run module scripts, as an iframe:
 *
 * ```html
 * <iframe src="https://example.org/flux-webgpu/embed.html?model=models/demo/&privacy=local-only"
 *         title="Image generator" width="100%" height="760"></iframe>
 * ```
 *
 * Query parameters are the `<flux-generator>` attributes (config.ts); the model URL
 * resolves against embed.html. API keys are refused: a URL ends up in logs and
 * histories. With `parent-origin=https://your.site` the frame also posts its events to
 * the parent page: `{source: 'flux-webgpu', type: 'progress'|'image'|'error'|'route'|'resize', detail}`
 * (only to that origin).
 */
import { MODEL_REGISTRY } from '../models/registry.ts';
import { FORM_ATTRIBUTES, GENERATOR_ATTRIBUTES } from './config.ts';
import { defineFluxGenerator, type ErrorEventDetail, type ImageEventDetail, type ProgressEventDetail } from './flux-generator.ts';

defineFluxGenerator();

const params = new URLSearchParams(location.search);
const allowed = new Set<string>([...GENERATOR_ATTRIBUTES, ...FORM_ATTRIBUTES]);
const element = document.createElement('flux-generator');
element.setAttribute('layout', 'page');
element.setAttribute('theme', 'auto');
element.setAttribute('model', MODEL_REGISTRY[0].url);
const refused: string[] = [];
for (const [name, value] of params) {
  if (/key|token|secret|password/i.test(name)) refused.push(name);
  else if (allowed.has(name)) element.setAttribute(name, value);
}
if (refused.length) {
  // A key in a URL is readable in logs and histories: refuse it, and use no provider at all.
  element.removeAttribute('provider');
  element.removeAttribute('providers');
  const note = document.createElement('p');
  note.className = 'embed-error';
  note.setAttribute('role', 'alert');
  note.textContent = `Ignored ${refused.join(', ')}: API keys must never be put in a URL. Use a proxy on your server as provider-base-url instead.`;
  document.getElementById('embed')!.append(note);
}
document.getElementById('embed')!.append(element);

const parentOrigin = params.get('parent-origin');
if (parentOrigin && window.parent !== window) {
  let origin: string | undefined;
  try {
    origin = new URL(parentOrigin).origin;
  } catch {
    origin = undefined;
  }
  if (origin) {
    const post = (type: string, detail: unknown) => window.parent.postMessage({ source: 'flux-webgpu', type, detail }, origin!);
    element.addEventListener('progress', (e) => {
      const { preview: _preview, ...rest } = (e as unknown as CustomEvent<ProgressEventDetail & { preview?: unknown }>).detail;
      post('progress', rest);
    });
    element.addEventListener('image', (e) => {
      const { result, request } = (e as unknown as CustomEvent<ImageEventDetail>).detail;
      post('image', { request, images: result.images, seed: result.seed, width: result.width, height: result.height, steps: result.steps, backend: result.backend, timings: result.timings });
    });
    element.addEventListener('error', (e) => {
      const { name, summary, action, message } = (e as unknown as CustomEvent<ErrorEventDetail>).detail;
      post('error', { name, summary, action, message });
    });
    element.addEventListener('route', (e) => {
      const detail = (e as unknown as CustomEvent<Record<string, unknown>>).detail;
      post('route', { ...detail, error: detail.error ? String((detail.error as Error).name) : undefined });
    });
    new ResizeObserver(() => post('resize', { height: document.documentElement.scrollHeight })).observe(document.body);
  }
}
