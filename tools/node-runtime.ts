/**
 * The Node side of `ModelRuntime`: a package folder on disk, sessions from
 * onnxruntime-node (CPU). Only this file and the CLI know about files and Node.
 */
import { existsSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import * as ort from 'onnxruntime-node';
import { ModelPackageError } from '../src/errors.ts';
import { parseManifest, type GraphEntry, type Manifest } from '../src/package/manifest.ts';
import type { GraphSession, ModelRuntime } from '../src/pipeline/runtime.ts';

/** A runtime over a package folder; call `release()` when done. */
export interface NodeModelRuntime extends ModelRuntime {
  release(): Promise<void>;
}

/**
 * Opens a package folder: reads and checks the manifest and that every file is there
 * with its recorded size. Sessions are created on first use and kept until `release()`.
 * @throws ModelPackageError naming the missing or wrong file
 */
export function openNodeRuntime(dir: string): NodeModelRuntime {
  const manifestPath = join(dir, 'manifest.json');
  if (!existsSync(manifestPath)) throw new ModelPackageError(`${dir} is not a model package: manifest.json is missing`, manifestPath);
  let json: unknown;
  try {
    json = JSON.parse(readFileSync(manifestPath, 'utf8'));
  } catch (error) {
    throw new ModelPackageError(`${manifestPath} is not valid JSON: ${(error as Error).message}`, manifestPath);
  }
  const manifest: Manifest = parseManifest(json, manifestPath);
  for (const file of manifest.files) {
    const path = join(dir, file.path);
    if (!existsSync(path)) throw new ModelPackageError(`package file ${path} is missing`, path);
    const size = statSync(path).size;
    if (size !== file.size) throw new ModelPackageError(`package file ${path} has ${size} bytes, the manifest says ${file.size}`, path);
  }
  const sessions = new Map<string, Promise<ort.InferenceSession>>();
  return {
    manifest,
    async readJson(path: string) {
      if (!manifest.files.some((f) => f.path === path)) throw new ModelPackageError(`${path} is not a file of this package`, path);
      return JSON.parse(readFileSync(join(dir, path), 'utf8'));
    },
    session(graph: GraphEntry): Promise<GraphSession> {
      let session = sessions.get(graph.name);
      if (!session) {
        session = ort.InferenceSession.create(join(dir, graph.model), { executionProviders: ['cpu'], graphOptimizationLevel: 'all' });
        sessions.set(graph.name, session);
      }
      return session;
    },
    async release() {
      for (const session of sessions.values()) await (await session).release();
      sessions.clear();
    },
  };
}
