/**
 * The app's gallery: past generations kept in this browser's IndexedDB (a database of its
 * own, through idb-keyval), so they survive reloads. Each entry holds the image Blob and
 * what made it: prompt, seed, size, steps, backend and time taken.
 */
import { clear, createStore, del, set, values, type UseStore } from 'idb-keyval';

/** One stored image. */
export interface GalleryEntry {
  /** Random id (the IndexedDB key). */
  id: string;
  /** Epoch milliseconds. */
  createdAt: number;
  image: Blob;
  prompt: string;
  /** This image's seed (image i of a request used seed + i). */
  seed: number;
  width: number;
  height: number;
  steps: number;
  /** The guidance scale, for guidance-distilled models (FLUX.1 [dev]). */
  guidance?: number;
  /** 'local' or a provider id. */
  backend: string;
  /** "this device" or the provider's name. */
  backendLabel: string;
  /** Milliseconds the whole request took. */
  totalMs: number;
  /** The package URL, when it ran on this device. */
  model?: string;
}

/** Database and object store of the gallery (never shared with the weight store). */
export const GALLERY_DB = { dbName: 'flux-webgpu-gallery', storeName: 'images' } as const;

/** The gallery in IndexedDB. */
export class GalleryStore {
  private readonly store: UseStore;

  constructor(dbName: string = GALLERY_DB.dbName, storeName: string = GALLERY_DB.storeName) {
    this.store = createStore(dbName, storeName);
  }

  /** Adds an entry (id and time are filled in) and returns it. */
  async add(entry: Omit<GalleryEntry, 'id' | 'createdAt'>): Promise<GalleryEntry> {
    const full: GalleryEntry = { ...entry, id: crypto.randomUUID(), createdAt: Date.now() };
    await set(full.id, full, this.store);
    return full;
  }

  /** Every entry, newest first. */
  async list(): Promise<GalleryEntry[]> {
    const all = await values<GalleryEntry>(this.store);
    return all.sort((a, b) => b.createdAt - a.createdAt);
  }

  async remove(id: string): Promise<void> {
    await del(id, this.store);
  }

  async clear(): Promise<void> {
    await clear(this.store);
  }
}

/** Total bytes of the entries' images. */
export function galleryBytes(entries: GalleryEntry[]): number {
  return entries.reduce((sum, e) => sum + e.image.size, 0);
}
