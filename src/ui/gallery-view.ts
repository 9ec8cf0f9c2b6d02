/**
 * The app's gallery section: every past generation (from the GalleryStore), newest first,
 * with its prompt and metadata, and Download, Copy seed, Generate again and Delete.
 */
import { h } from '../widget/dom.ts';
import type { GalleryEntry, GalleryStore } from './gallery-store.ts';

/** What the gallery needs from the app. */
export interface GalleryHost {
  store: GalleryStore;
  /** Generates again with this entry's prompt, seed, size, steps and guidance. */
  regenerate(entry: GalleryEntry): void;
  /** Says something to screen-reader users (and shows it). */
  announce(message: string): void;
  /** Called after an entry was deleted. */
  changed(): void;
}

/** The gallery section. */
export interface GalleryView {
  element: HTMLElement;
  /** Re-reads the store and redraws. */
  refresh(): Promise<void>;
}

function extensionOf(blob: Blob): string {
  const sub = blob.type.split('/')[1] ?? 'png';
  return sub === 'jpeg' ? 'jpg' : sub;
}

/** Copies text to the clipboard; false when the browser refuses. */
async function copyText(text: string): Promise<boolean> {
  try {
    await navigator.clipboard.writeText(text);
    return true;
  } catch {
    return false;
  }
}

/** Builds the gallery section. */
export function createGalleryView(host: GalleryHost): GalleryView {
  const list = h('ul', { class: 'gallery-grid', id: 'gallery-list', 'aria-labelledby': 'gallery-title' });
  const count = h('p', { class: 'hint', id: 'gallery-count' });
  const element = h('section', { class: 'panel', id: 'gallery', 'aria-labelledby': 'gallery-title' },
    h('div', { class: 'section-head' }, h('h2', { id: 'gallery-title' }, 'Gallery'), count),
    h('p', { class: 'hint' }, 'Your images are kept in this browser only (IndexedDB), with the prompt and seed that made them.'),
    list);
  let urls: string[] = [];

  const item = (entry: GalleryEntry): HTMLLIElement => {
    const url = URL.createObjectURL(entry.image);
    urls.push(url);
    const when = new Date(entry.createdAt);
    const short = entry.prompt.length > 60 ? `${entry.prompt.slice(0, 60)}…` : entry.prompt;
    const label = (action: string) => `${action}: “${short}”, seed ${entry.seed}`;
    const meta: [string, string][] = [
      ['Seed', String(entry.seed)],
      ['Size', `${entry.width}×${entry.height}`],
      ['Steps', String(entry.steps)],
      ...(entry.guidance === undefined ? [] : [['Guidance', String(entry.guidance)] as [string, string]]),
      ['Made', entry.backend === 'local' ? 'on this device' : `by ${entry.backendLabel}`],
      ['Took', `${(entry.totalMs / 1000).toFixed(1)} s`],
      ['When', when.toLocaleString()],
    ];
    return h('li', { class: 'gallery-item', 'data-id': entry.id, 'data-seed': entry.seed },
      h('figure', {},
        h('img', { src: url, alt: entry.prompt ? `“${entry.prompt.slice(0, 200)}”` : 'Generated image', width: entry.width, height: entry.height, loading: 'lazy', decoding: 'async' }),
        h('figcaption', {},
          h('p', { class: 'prompt' }, entry.prompt),
          h('dl', { class: 'meta' }, ...meta.flatMap(([k, v]) => [h('dt', {}, k), h('dd', { 'data-field': k.toLowerCase() }, v)])),
          h('div', { class: 'item-actions' },
            h('a', { class: 'button-link', href: url, download: `flux-${entry.seed}.${extensionOf(entry.image)}`, 'aria-label': label('Download') }, 'Download'),
            h('button', { type: 'button', class: 'secondary small copy-seed', 'aria-label': label('Copy the seed'), onclick: async () => {
              const ok = await copyText(String(entry.seed));
              host.announce(ok ? `Seed ${entry.seed} copied.` : `Seed ${entry.seed} (the browser did not allow copying: select it from the list).`);
            } }, 'Copy seed'),
            h('button', { type: 'button', class: 'secondary small regenerate', 'aria-label': label('Generate again with this seed'), onclick: () => host.regenerate(entry) }, 'Generate again'),
            h('button', { type: 'button', class: 'danger small delete', 'aria-label': label('Delete'), onclick: async (event: Event) => {
              const li = (event.currentTarget as HTMLElement).closest('li');
              const next = (li?.nextElementSibling ?? li?.previousElementSibling)?.querySelector<HTMLElement>('button.delete');
              await host.store.remove(entry.id);
              await refresh();
              host.announce('Image deleted.');
              host.changed();
              // Keep keyboard focus in the gallery.
              (next && next.isConnected ? next : (list.querySelector<HTMLElement>('button.delete') ?? element.querySelector('h2')))?.focus();
            } }, 'Delete')))));
  };

  const refresh = async () => {
    const entries = await host.store.list();
    for (const url of urls) URL.revokeObjectURL(url);
    urls = [];
    count.textContent = entries.length === 1 ? '1 image' : `${entries.length} images`;
    list.replaceChildren(...(entries.length ? entries.map(item) : [h('li', { class: 'hint empty' }, 'Nothing yet: generated images appear here.')]));
  };

  // The heading is a focus target after the last image is deleted.
  (element.querySelector('h2') as HTMLElement).tabIndex = -1;
  return { element, refresh };
}
