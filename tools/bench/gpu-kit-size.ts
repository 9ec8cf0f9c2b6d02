/**
 * `npm run bench -- --only gpu-kit`: builds the GPU measurement kit (`.gpu-kit/`, the same
 * as `npm run gpu-kit`; compressed binaries are reused while their sources are unchanged)
 * and prints what it holds and its size against the 60 MB it may take.
 */
import { buildKit, KIT_SIZE_LIMIT_BYTES, type KitManifest } from '../gpu-kit/build-kit.ts';
import type { Bench, BenchOptions, BenchSummary } from './bench.ts';
import { formatBytes, table } from './measure.ts';

const MB = (bytes: number) => `${(bytes / 1e6).toFixed(1)} MB`;

export const gpuKitBench: Bench = {
  name: 'gpu-kit',
  description: 'size of the GPU measurement kit (.gpu-kit/, built or refreshed by this run)',
  async run(options: BenchOptions): Promise<BenchSummary> {
    const log = (line: string) => options.log(`  ${line}`);
    let manifest: KitManifest;
    let note = '';
    try {
      manifest = await buildKit({ log });
    } catch (error) {
      if (!/apt-get/.test((error as Error).message)) throw error;
      note = ' (without the Vulkan packages: apt-get failed)';
      options.log(`apt-get failed, building without debs/: ${(error as Error).message.split('\n')[0]}`);
      manifest = await buildKit({ log, debs: false });
    }
    const part = (test: (path: string) => boolean) => manifest.files.filter((f) => test(f.path)).reduce((a, f) => a + f.bytes, 0);
    const parts: [string, number][] = [
      ['node.xz (Node binary, stripped)', part((p) => p === 'node.xz')],
      ['libonnxruntime.so.1.xz (WebGPU EP inside)', part((p) => p.endsWith('libonnxruntime.so.1.xz'))],
      ['onnxruntime-node JS + binding', part((p) => p.startsWith('ort/') && !p.endsWith('.xz'))],
      ['kit.cjs (bundled bench)', part((p) => p === 'kit.cjs')],
      ['debs/ (Vulkan loader, GL dispatch)', part((p) => p.startsWith('debs/'))],
      ['run.sh, anchor.py', part((p) => p === 'run.sh' || p === 'anchor.py')],
    ];
    options.log();
    options.log(table([['part', 'size', 'bytes'], ...parts.map(([name, bytes]) => [name, MB(bytes), formatBytes(bytes)]), ['total', MB(manifest.totalBytes), formatBytes(manifest.totalBytes)]]));
    options.log(`limit ${MB(KIT_SIZE_LIMIT_BYTES)} (device carry 64 MiB with the working tree); node ${manifest.node}, onnxruntime-node ${manifest.onnxruntimeNode}${note}`);
    return [
      ['kit size', `${MB(manifest.totalBytes)}${note}`],
      ['  node.xz', MB(parts[0][1])],
      ['  libonnxruntime.xz', MB(parts[1][1])],
      ['  kit.cjs', MB(parts[3][1])],
      ['  debs', MB(parts[4][1])],
      ['share of 60 MB limit', `${((100 * manifest.totalBytes) / KIT_SIZE_LIMIT_BYTES).toFixed(0)} %`],
    ];
  },
};
