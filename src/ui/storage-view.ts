/**
 * The app's storage manager: the model packages kept in this browser (sizes, complete
 * or partial, delete), the gallery's size (delete all), and what the browser reports for
 * this site's storage overall.
 */
import type { StoredModel } from '../engine/protocol.ts';
import { formatBytes } from '../format-bytes.ts';
import { isImportedPackageUrl } from '../import/hub-model-source.ts';
import { MODEL_REGISTRY } from '../models/registry.ts';
import { h } from '../widget/dom.ts';
import { galleryBytes, type GalleryStore } from './gallery-store.ts';

/** What the storage view needs from the app. */
export interface StorageHost {
  gallery: GalleryStore;
  /** The stored models (null while no local generator is available). */
  listModels(): Promise<StoredModel[]> | null;
  deleteModel(url: string): Promise<void>;
  announce(message: string): void;
  /** Called after the gallery was emptied. */
  galleryCleared(): void;
}

/** The storage section. */
export interface StorageView {
  element: HTMLElement;
  refresh(): Promise<void>;
}

function modelName(m: StoredModel): string {
  const known = MODEL_REGISTRY.find((r) => r.id === m.modelId || new URL(r.url, document.baseURI).href === m.packageUrl);
  return known?.name ?? (m.modelId && isImportedPackageUrl(m.packageUrl) ? `${m.modelId} (from Hugging Face${m.importing ? `: ${m.importing.source}` : ''})` : m.modelId ?? m.packageUrl);
}

/** Builds the storage section. */
export function createStorageView(host: StorageHost): StorageView {
  const models = h('tbody', { id: 'stored-models' });
  const galleryLine = h('p', { id: 'gallery-usage' });
  const clearGallery = h('button', { type: 'button', class: 'danger small', id: 'gallery-clear' }, 'Delete all images');
  const confirmBox = h('div', { class: 'confirm', hidden: true, role: 'group', 'aria-label': 'Confirm deleting all images' });
  const usage = h('p', { class: 'hint', id: 'storage-usage' });
  const heading = h('h2', { id: 'storage-title', tabindex: -1 }, 'Storage');
  const element = h('section', { class: 'panel', id: 'storage', 'aria-labelledby': 'storage-title' },
    heading,
    h('h3', {}, 'Models in this browser'),
    h('div', { class: 'table-wrap' },
      h('table', {}, h('thead', {}, h('tr', {}, h('th', { scope: 'col' }, 'Model'), h('th', { scope: 'col' }, 'Stored'), h('th', { scope: 'col' }, h('span', { class: 'visually-hidden' }, 'Actions')))), models)),
    h('h3', {}, 'Gallery'),
    h('div', { class: 'row-line' }, galleryLine, clearGallery),
    confirmBox,
    usage);

  const refresh = async () => {
    const listing = host.listModels();
    let stored: StoredModel[] | null = null;
    try {
      stored = listing ? await listing : null;
    } catch {
      stored = null;
    }
    models.replaceChildren(...(stored === null
      ? [h('tr', {}, h('td', { colspan: 3, class: 'hint' }, 'Unavailable: choose a model first.'))]
      : stored.length
        ? stored.map((m) => h('tr', { 'data-url': m.packageUrl },
          h('td', {}, modelName(m)),
          h('td', {}, m.complete ? formatBytes(m.bytesStored) : `${formatBytes(m.bytesStored)} of ${m.importing ? '≈ ' : ''}${formatBytes(m.bytesTotal)} (${m.importing ? 'import stopped: importing it again resumes' : 'partial: resumes on next use'})`),
          h('td', {}, h('button', { type: 'button', class: 'danger small', 'aria-label': `Delete the stored model ${modelName(m)}`, onclick: async () => {
            await host.deleteModel(m.packageUrl);
            host.announce(`${modelName(m)} deleted from this browser. It will be downloaded again when needed.`);
            await refresh();
            // Keep keyboard focus in the section.
            (element.querySelector<HTMLElement>('#stored-models button') ?? heading).focus();
          } }, 'Delete'))))
        : [h('tr', {}, h('td', { colspan: 3, class: 'hint' }, 'No model stored yet.'))]));
    const entries = await host.gallery.list();
    galleryLine.textContent = `${entries.length} image${entries.length === 1 ? '' : 's'}, ${formatBytes(galleryBytes(entries))}`;
    clearGallery.disabled = entries.length === 0;
    try {
      const estimate = await navigator.storage?.estimate?.();
      const persisted = await navigator.storage?.persisted?.();
      usage.textContent = estimate?.usage !== undefined && estimate.quota
        ? `This site uses ${formatBytes(estimate.usage)} of about ${formatBytes(estimate.quota)} the browser allows${persisted ? ' (kept even when space runs low)' : ''}.`
        : '';
    } catch {
      usage.textContent = '';
    }
  };

  clearGallery.addEventListener('click', () => {
    confirmBox.hidden = false;
    confirmBox.replaceChildren(
      h('span', {}, 'Delete every image in the gallery?'),
      h('button', { type: 'button', class: 'danger small', id: 'gallery-clear-yes', onclick: async () => {
        await host.gallery.clear();
        confirmBox.hidden = true;
        host.announce('All gallery images deleted.');
        host.galleryCleared();
        await refresh();
        clearGallery.focus();
      } }, 'Delete all'),
      h('button', { type: 'button', class: 'secondary small', onclick: () => {
        confirmBox.hidden = true;
        clearGallery.focus();
      } }, 'Keep them'));
    confirmBox.querySelector<HTMLElement>('button')?.focus();
  });

  return { element, refresh };
}
