/**
 * The package sink of the Node CLI: a folder. Files are written into `<out>.partial`
 * beside `out` and the folder is renamed into place on commit (the previous package, if
 * any, is moved aside first and deleted last), so a crash at any point leaves either the
 * old or the new package at `out`, never a half-written one. A failed conversion may
 * leave `<out>.partial` (no manifest.json, so it never looks like a package) with the
 * graphs already converted and `conversion-state.json`, so the same command resumes.
 */
import { existsSync } from 'node:fs';
import { mkdir, open, readdir, readFile, rename, rm, stat, writeFile } from 'node:fs/promises';
import { dirname, join, resolve } from 'node:path';
import { CheckpointError, StorageQuotaError } from '../../src/errors.ts';
import type { PackageSink, SinkFile } from '../../src/convert/package-sink.ts';

/** The file in the work folder that holds the conversion's state (never part of the package). */
const STATE_FILE = 'conversion-state.json';

/** A full disk (or quota) as the typed error that says what to do; other errors unchanged. */
function diskError(error: unknown, path: string): unknown {
  const code = (error as NodeJS.ErrnoException).code;
  if (code === 'ENOSPC' || code === 'EDQUOT') {
    return new StorageQuotaError(`the disk is full (${code}) while writing ${path}: free some space and run the same command again; it resumes with the graphs already converted`);
  }
  return error;
}

/** A SinkFile over a new file at `path` (created or truncated). */
export async function openFileSink(path: string): Promise<SinkFile> {
  const handle = await open(path, 'w');
  return {
    async write(bytes) {
      let done = 0;
      try {
        while (done < bytes.length) done += (await handle.write(bytes, done, bytes.length - done)).bytesWritten;
      } catch (error) {
        throw diskError(error, path);
      }
    },
    close: () => handle.close(),
  };
}

/**
 * Checks `out` and opens a sink that builds the package beside it.
 * @param out the package folder to create
 * @param force replace an existing package (or file) at `out`
 * @throws CheckpointError when `out` exists, is not an empty folder, and `force` is not set
 */
export async function openFolderSink(out: string, force = false): Promise<PackageSink> {
  out = resolve(out);
  if (existsSync(out) && !force) {
    if (!(await stat(out)).isDirectory()) throw new CheckpointError(`output ${out} exists and is not a folder; pass --force to replace it`, out);
    if ((await readdir(out)).length > 0) throw new CheckpointError(`output folder ${out} exists and is not empty; pass --force to replace it`, out);
  }
  const work = `${out}.partial`;
  await mkdir(work, { recursive: true });
  const inWork = (path: string) => join(work, ...path.split('/'));
  return {
    async loadState() {
      try {
        return await readFile(join(work, STATE_FILE), 'utf8');
      } catch {
        return null;
      }
    },
    async saveState(state) {
      try {
        await writeFile(join(work, `${STATE_FILE}.tmp`), state);
        await rename(join(work, `${STATE_FILE}.tmp`), join(work, STATE_FILE));
      } catch (error) {
        throw diskError(error, join(work, STATE_FILE));
      }
    },
    async clear() {
      await rm(work, { recursive: true, force: true });
      await mkdir(work, { recursive: true });
    },
    async create(path) {
      await mkdir(dirname(inWork(path)), { recursive: true });
      return openFileSink(inWork(path));
    },
    remove: (path) => rm(inWork(path), { force: true }),
    async commit(manifestJson) {
      await rm(join(work, STATE_FILE), { force: true });
      await writeFile(join(work, 'manifest.json'), manifestJson);
      const old = `${out}.replaced-${process.pid}`;
      const hadOld = existsSync(out);
      if (hadOld) await rename(out, old);
      await rename(work, out);
      if (hadOld) await rm(old, { recursive: true, force: true });
    },
    async abort(keepForResume) {
      if (!keepForResume) await rm(work, { recursive: true, force: true });
    },
  };
}
