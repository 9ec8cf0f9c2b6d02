/**
 * Where a conversion reads its sources from: the files of a checkpoint (a local folder
 * under Node: `tools/convert/local-files.ts`; a Hugging Face repository over HTTP Range
 * requests: `hub-files.ts`), read piece by piece, never a whole file at once.
 */
import { CheckpointError } from '../errors.ts';

/** Random access to one source file. */
export interface RandomAccessFile {
  /** How messages name the file: an absolute path, or an `hf:` reference. */
  readonly label: string;
  /** Size in bytes. */
  readonly size: number;
  /**
   * Exactly `length` bytes from `offset`.
   * @param tensor the tensor being read, for messages
   * @throws CheckpointError naming the file (and tensor) when it ends before `offset + length`
   */
  read(offset: number, length: number, tensor?: string): Promise<Uint8Array>;
  /** Releases the file; reads after close fail. */
  close(): Promise<void>;
}

/** The files of one checkpoint (a folder or a repository), by relative `/`-separated path. */
export interface CheckpointFiles {
  /** Short name (the folder's or repository's name), the default model id. */
  readonly name: string;
  /** How messages name `path` (absolute path or `hf:owner/name@rev/path`); `''` names the root. */
  labelOf(path: string): string;
  /** Whether `path` is a file of the checkpoint. */
  exists(path: string): Promise<boolean>;
  /** Whether `path` is a folder of the checkpoint (holds at least one file). */
  isFolder(path: string): Promise<boolean>;
  /** The whole file as text (for small files: configs, tokenizers). @throws CheckpointError when missing */
  readText(path: string): Promise<string>;
  /** Opens a file for random access. @throws CheckpointError when it is missing or cannot be opened */
  open(path: string): Promise<RandomAccessFile>;
  /**
   * What identifies the file's contents without reading them (size and modification
   * time of a local file; size and sha256 or git oid on the Hub): a conversion resumes
   * only from the same sources.
   */
  fingerprint(path: string): Promise<string>;
}

/** `a/b` joined from parts, skipping empty ones. */
export function joinPath(...parts: string[]): string {
  return parts.filter((p) => p !== '').join('/');
}

/** Reads a JSON file of the checkpoint. @throws CheckpointError naming the file */
export async function readCheckpointJson(files: CheckpointFiles, path: string): Promise<Record<string, unknown>> {
  const label = files.labelOf(path);
  if (!(await files.exists(path))) throw new CheckpointError(`missing file ${label}`, label);
  const text = await files.readText(path);
  try {
    return JSON.parse(text);
  } catch (error) {
    throw new CheckpointError(`${label} is not valid JSON: ${(error as Error).message}`, label);
  }
}
