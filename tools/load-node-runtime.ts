/**
 * onnxruntime-node is an optional peer dependency of the package: a web app that installs
 * `flux-webgpu` never gets it (nor its ~290 MB). Only `flux-webgpu generate` with a local
 * package needs it, so the CLI loads the Node runtime here, on demand, and says how to
 * install it when it is missing.
 */
import { MissingDependencyError } from '../src/errors.ts';
import type * as NodeRuntime from './node-runtime.ts';

/** How to get onnxruntime-node next to the installed flux-webgpu. */
export const ONNXRUNTIME_NODE_ADVICE =
  'install it next to flux-webgpu: "npm i -D onnxruntime-node" in the project (or "npm i -g onnxruntime-node" beside a global flux-webgpu, ' +
  'or "npx -p flux-webgpu -p onnxruntime-node flux-webgpu …"). On Linux x64, ONNXRUNTIME_NODE_INSTALL=skip skips its optional CUDA download; the CLI runs on the CPU.';

/** True when `error` says that the module `name` itself could not be found. */
function isMissingModule(error: unknown, name: string): boolean {
  const e = error as { code?: string; message?: string };
  return (e?.code === 'ERR_MODULE_NOT_FOUND' || e?.code === 'MODULE_NOT_FOUND') && Boolean(e.message?.includes(`'${name}'`));
}

/**
 * The Node runtime (`tools/node-runtime.ts`), loaded with onnxruntime-node.
 * @throws MissingDependencyError naming onnxruntime-node when it is not installed
 */
export async function loadNodeRuntime(): Promise<typeof NodeRuntime> {
  try {
    return await import('./node-runtime.ts');
  } catch (error) {
    if (isMissingModule(error, 'onnxruntime-node')) throw new MissingDependencyError('onnxruntime-node', `running a package on this machine needs onnxruntime-node, which is not installed: ${ONNXRUNTIME_NODE_ADVICE}`);
    throw error;
  }
}
