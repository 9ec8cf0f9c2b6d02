/**
 * The package sink of the Node CLI: a folder. Files are written into `<out>.partial-<pid>`
 * beside `out` and the folder is renamed into place on commit (the previous package, if
 * any, is moved aside first and deleted last), so a crash at any point leaves either the
 * old or the new package at `out`, never a half-written one.
 */
import { existsSync } from 'node:fs';
import { mkdir, open, readdir, rename, rm, stat, writeFile } from 'node:fs/promises';
import { dirname, join, resolve } from 'node:path';
import { CheckpointError } from '../../src/errors.ts';
import type { PackageSink, SinkFile } from '../../src/convert/package-sink.ts';

/** A SinkFile over a new file at `path` (created or truncated). */
export async function openFileSink(path: string): Promise<SinkFile> {
  const handle = await open(path, 'w');
  return {
    async write(bytes) {
      let done = 0;
      while (done < bytes.length) done += (await handle.write(bytes, done, bytes.length - done)).bytesWritten;
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
  const work = `${out}.partial-${process.pid}`;
  await rm(work, { recursive: true, force: true });
  await mkdir(work, { recursive: true });
  const inWork = (path: string) => join(work, ...path.split('/'));
  return {
    async create(path) {
      await mkdir(dirname(inWork(path)), { recursive: true });
      return openFileSink(inWork(path));
    },
    remove: (path) => rm(inWork(path), { force: true }),
    async commit(manifestJson) {
      await writeFile(join(work, 'manifest.json'), manifestJson);
      const old = `${out}.replaced-${process.pid}`;
      const hadOld = existsSync(out);
      if (hadOld) await rename(out, old);
      await rename(work, out);
      if (hadOld) await rm(old, { recursive: true, force: true });
    },
    async abort() {
      await rm(work, { recursive: true, force: true });
    },
  };
}
