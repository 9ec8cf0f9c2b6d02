/**
 * A local checkpoint folder as `CheckpointFiles` (Node only): positioned reads of
 * local files, labelled by their absolute paths in messages.
 */
import { open, readFile, stat } from 'node:fs/promises';
import { basename, dirname, join, resolve } from 'node:path';
import type { CheckpointFiles, RandomAccessFile } from '../../src/convert/checkpoint-files.ts';
import { openSafetensorsCheckpoint, type Checkpoint } from '../../src/convert/safetensors-source.ts';
import { CheckpointError } from '../../src/errors.ts';

async function statOrNull(path: string) {
  try {
    return await stat(path);
  } catch {
    return null;
  }
}

/**
 * Opens one local file for positioned reads.
 * @param path the file; its absolute path is its label
 * @throws Error with the system error code (ENOENT, EACCES, …) as message when it cannot be opened
 */
export async function openLocalFile(path: string): Promise<RandomAccessFile> {
  const label = resolve(path);
  let handle;
  try {
    handle = await open(label, 'r');
  } catch (error) {
    throw new Error((error as NodeJS.ErrnoException).code ?? (error as Error).message);
  }
  const size = (await handle.stat()).size;
  return {
    label,
    size,
    async read(position, length, tensor) {
      const buffer = new Uint8Array(length);
      let done = 0;
      while (done < length) {
        const { bytesRead } = await handle.read(buffer, done, length - done, position + done);
        if (bytesRead === 0) {
          throw new CheckpointError(
            `${label} is truncated: wanted bytes ${position}..${position + length}${tensor ? ` of tensor "${tensor}"` : ''} but the file ends at ${position + done}`,
            label,
            tensor,
          );
        }
        done += bytesRead;
      }
      return buffer;
    },
    close: () => handle.close(),
  };
}

/**
 * One local file as a `SourceFile` (the files of its folder, and its name there), for
 * `--transformer ./flux1-schnell.safetensors` and the like.
 */
export function localSourceFile(path: string): { files: CheckpointFiles; path: string } {
  const absolute = resolve(path);
  return { files: localCheckpointFiles(dirname(absolute)), path: basename(absolute) };
}

/** The files under a local folder (paths relative to it, `/`-separated). */
export function localCheckpointFiles(root: string): CheckpointFiles {
  const base = resolve(root);
  const labelOf = (path: string) => (path === '' ? base : join(base, ...path.split('/')));
  return {
    name: basename(base),
    labelOf,
    exists: async (path) => Boolean((await statOrNull(labelOf(path)))?.isFile()),
    isFolder: async (path) => Boolean((await statOrNull(labelOf(path)))?.isDirectory()),
    async readText(path) {
      try {
        return await readFile(labelOf(path), 'utf8');
      } catch (error) {
        throw new CheckpointError(`cannot read ${labelOf(path)} (${(error as NodeJS.ErrnoException).code ?? (error as Error).message})`, labelOf(path));
      }
    },
    open: (path) => openLocalFile(labelOf(path)),
    async fingerprint(path) {
      const s = await statOrNull(labelOf(path));
      return s ? `${s.size}:${Math.round(s.mtimeMs)}` : 'missing';
    },
  };
}

/**
 * Opens a local safetensors checkpoint folder, reading only headers (see
 * `openSafetensorsCheckpoint`).
 * @param dir the folder, e.g. `.../FLUX.1-schnell/transformer`
 * @param baseName 'diffusion_pytorch_model' (diffusers, the default) or 'model' (transformers)
 */
export function openCheckpointDir(dir: string, baseName = 'diffusion_pytorch_model'): Promise<Checkpoint> {
  return openSafetensorsCheckpoint(localCheckpointFiles(dir), '', baseName);
}
