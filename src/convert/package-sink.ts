/**
 * Where a conversion writes the package. The converter only streams files into a sink
 * and commits it at the end; the sink decides where the bytes live (a folder under Node:
 * `tools/convert/folder-sink.ts`; the page's weight store in a worker) and makes the
 * finished package appear atomically, so that a failed conversion never leaves something
 * that looks like a complete package.
 */

/** One file being written, front to back. */
export interface SinkFile {
  /** Appends `bytes` (the sink may keep the reference until the returned promise settles). */
  write(bytes: Uint8Array): Promise<void>;
  /** Flushes and closes the file; no write follows. */
  close(): Promise<void>;
}

/**
 * A package being written. Paths are relative to the package root with `/` separators
 * (`tokenizer/tokenizer.json`). Nothing written is visible as a package before `commit`.
 */
export interface PackageSink {
  /** Creates `path` empty (replacing a file of that name) for sequential writes. */
  create(path: string): Promise<SinkFile>;
  /** Removes a file written earlier (e.g. an empty data file). */
  remove(path: string): Promise<void>;
  /**
   * Writes `manifest.json` last and makes the package complete, atomically: a reader sees
   * either the previous package (if any) or the whole new one.
   */
  commit(manifestJson: Uint8Array): Promise<void>;
  /**
   * Gives up after a failure. `keepForResume`: keep what was written (and the saved
   * state), so that a later conversion into the same place can resume; otherwise remove
   * it. Never leaves a complete-looking package behind.
   */
  abort(keepForResume: boolean): Promise<void>;
  /** The state an earlier, unfinished conversion into the same place saved, or null. */
  loadState(): Promise<string | null>;
  /** Saves the conversion's state (replacing the previous one); it is not part of the package. */
  saveState(state: string): Promise<void>;
  /** Removes everything written so far, state included, to start afresh. */
  clear(): Promise<void>;
}

/** Writes a whole file through `sink`. */
export async function writeWholeFile(sink: PackageSink, path: string, bytes: Uint8Array): Promise<void> {
  const file = await sink.create(path);
  try {
    await file.write(bytes);
  } finally {
    await file.close();
  }
}
