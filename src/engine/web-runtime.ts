/**
 * The browser's `ModelRuntime`: onnxruntime-web sessions on the native WebGPU EP, all on
 * one shared GPUDevice, made from a graph's bytes plus its weights handed over as a
 * `Blob` through `externalData` (never copied into one big buffer here). Outputs that
 * feed the next graph stay on the GPU (`gpu-buffer`); the pipeline disposes them.
 */
import type { GraphEntry, GraphRole, Manifest } from '../package/manifest.ts';
import { ModelPackageError } from '../errors.ts';
import type { GraphSession, ModelRuntime } from '../pipeline/runtime.ts';
import { ort, wasmLoadFailure } from './ort.ts';
import type { GpuDevice } from './webgpu-types.ts';

/** Reads the files of one package (from the weight store). */
export interface PackageFileReader {
  /** The file at `path` (relative to the package root). */
  get(path: string): Promise<Blob>;
}

/** Options of a `WebModelRuntime`. */
export interface WebRuntimeOptions {
  /**
   * Keep every session alive between uses (default true: fastest). False releases each
   * graph as soon as the pipeline is done with it (low-memory mode: less GPU memory,
   * sessions are re-created on every use).
   */
  keepSessions?: boolean;
  /** onnxruntime session log severity, 0 (verbose) – 4 (fatal). Default 3 (errors only). */
  logSeverityLevel?: 0 | 1 | 2 | 3 | 4;
  /** Debugging: names of graph nodes to run on onnxruntime's CPU kernels instead of WebGPU. */
  forceCpuNodeNames?: string[];
  /**
   * Layout of the WebGPU EP's convolutions (the VAE). Default onnxruntime's (NHWC, with
   * transposes around them); NCHW measured 35% faster for the tiny test VAE on SwiftShader.
   */
  preferredLayout?: 'NCHW' | 'NHWC';
}

/**
 * Which sessions stay alive: 'all' (resident and staged: the engine releases a stage's
 * sessions with `releaseAll()` when the stage ends) or 'one' (streaming: creating a
 * session first releases every other one, and every output goes to the CPU so that
 * nothing on the GPU outlives its session). onnxruntime's WebGPU EP frees a released
 * session's buffers only when no session is left on the device (measured with the
 * counting wrapper), so lower memory means releasing them all.
 */
export type SessionResidency = 'all' | 'one';

/** Roles whose outputs are inputs of the next graph, so they stay on the GPU. */
const GPU_OUTPUT_ROLES: ReadonlySet<GraphRole> = new Set(['transformer-embed', 'transformer-blocks', 'text-encoder-t5-embed', 'text-encoder-t5-blocks']);

/** Sessions over one package's graphs; `release()` frees them all. */
export class WebModelRuntime implements ModelRuntime {
  private readonly sessions = new Map<string, Promise<ort.InferenceSession>>();
  /** Session creation must be serial: the WebGPU EP registers the device per creation. */
  private creating: Promise<unknown> = Promise.resolve();
  private readonly keepSessions: boolean;
  private released = false;
  private residency: SessionResidency = 'all';

  constructor(
    readonly manifest: Manifest,
    private readonly files: PackageFileReader,
    private readonly device: GpuDevice,
    private readonly options: WebRuntimeOptions = {},
  ) {
    this.keepSessions = options.keepSessions ?? true;
  }

  async readJson(path: string): Promise<unknown> {
    if (!this.manifest.files.some((f) => f.path === path)) throw new ModelPackageError(`${path} is not a file of this package`, path);
    const text = await (await this.files.get(path)).text();
    try {
      return JSON.parse(text);
    } catch (error) {
      throw new ModelPackageError(`${path} is not valid JSON: ${(error as Error).message}`, path);
    }
  }

  /** Sets which sessions stay alive; switching releases every session first. */
  async setResidency(residency: SessionResidency): Promise<void> {
    if (residency === this.residency) return;
    await this.releaseAll();
    this.residency = residency;
  }

  session(graph: GraphEntry): Promise<GraphSession> {
    if (this.released) return Promise.reject(new ModelPackageError('the model was unloaded', undefined, 'unloaded'));
    let session = this.sessions.get(graph.name);
    if (!session) {
      session = this.residency === 'one' ? this.releaseAll().then(() => this.createSession(graph)) : this.createSession(graph);
      this.sessions.set(graph.name, session);
      session.catch(() => this.sessions.delete(graph.name));
    }
    return session;
  }

  async finished(graph: GraphEntry): Promise<void> {
    if (!this.keepSessions) await this.releaseSession(graph.name);
  }

  /** Releases every session (GPU memory included). */
  async release(): Promise<void> {
    this.released = true;
    await this.releaseAll();
  }

  /** Releases every session but stays usable: the next `session()` creates it again. */
  async releaseAll(): Promise<void> {
    await Promise.allSettled([...this.sessions.keys()].map((name) => this.releaseSession(name)));
  }

  /** Whether the graph's session is alive (or being created). */
  has(graph: GraphEntry): boolean {
    return this.sessions.has(graph.name);
  }

  /** Names of the graphs whose sessions are alive (or being created). */
  liveSessions(): string[] {
    return [...this.sessions.keys()];
  }

  private async releaseSession(name: string): Promise<void> {
    const session = this.sessions.get(name);
    if (!session) return;
    this.sessions.delete(name);
    try {
      await (await session).release();
    } catch {
      // A session that failed to be created has nothing to release.
    }
  }

  private createSession(graph: GraphEntry): Promise<ort.InferenceSession> {
    const next = this.creating.then(async () => {
      const model = new Uint8Array(await (await this.files.get(graph.model)).arrayBuffer());
      const externalData = graph.data ? [{ path: dataLocation(graph), data: await this.files.get(graph.data) }] : undefined;
      const gpuOutputs = this.residency === 'all' && GPU_OUTPUT_ROLES.has(graph.role);
      // Float16 lookups need shader-f16 on the GPU; without it they run on the CPU kernels.
      const float16OnCpu = this.device.features.has('shader-f16') ? [] : (graph.float16Nodes ?? []);
      const cpuNodes = [...(this.options.forceCpuNodeNames ?? []), ...float16OnCpu];
      try {
        return await ort.InferenceSession.create(model, {
          executionProviders: [
            {
              name: 'webgpu',
              device: this.device as unknown as ort.InferenceSession.WebGpuExecutionProviderOption['device'],
              ...(cpuNodes.length ? { forceCpuNodeNames: cpuNodes } : {}),
              ...(this.options.preferredLayout ? { preferredLayout: this.options.preferredLayout } : {}),
            },
          ],
          graphOptimizationLevel: 'all',
          externalData,
          preferredOutputLocation: Object.fromEntries(graph.outputs.map((o) => [o.name, gpuOutputs ? 'gpu-buffer' : 'cpu'])),
          logSeverityLevel: this.options.logSeverityLevel ?? 3,
          logId: graph.name,
        });
      } catch (error) {
        throw (await wasmLoadFailure()) ?? new ModelPackageError(`cannot create a session for graph ${graph.name}: ${errorText(error)}`, graph.model, 'session-failed');
      }
    });
    this.creating = next.catch(() => undefined);
    return next;
  }
}

/**
 * The external-data location as written inside the .onnx file: the data file's path
 * relative to the graph file's folder.
 */
export function dataLocation(graph: GraphEntry): string {
  const data = graph.data!;
  const folder = graph.model.includes('/') ? graph.model.slice(0, graph.model.lastIndexOf('/') + 1) : '';
  return folder && data.startsWith(folder) ? data.slice(folder.length) : data;
}

function errorText(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}
