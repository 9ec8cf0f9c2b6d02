/**
 * `npm run gpu-kit [-- --out DIR] [--compress xz|none] [--no-debs]`: writes the GPU
 * measurement kit, a folder (default `.gpu-kit/`, ignored by git, at most 60 MB) holding
 * everything one command needs on a bare Linux x86-64 machine without network:
 *
 *   run.sh            the one command (unpacks, finds Vulkan, runs the bench)
 *   kit.cjs           the bench (tools/gpu-kit/kit.ts) bundled with esbuild
 *   anchor.py         the PyTorch bf16 anchor
 *   node.xz           this machine's Node binary, stripped and xz-compressed
 *   ort/              onnxruntime-node's JS and its Linux x64 native files only (the
 *                     library xz-compressed; it contains the WebGPU EP, Dawn over Vulkan),
 *                     and onnxruntime-common: run.sh makes them a node_modules beside a
 *                     copy of kit.cjs in a scratch folder
 *   debs/             the Vulkan loader (and GL dispatch) packages for amd64, from Debian
 *   KIT.json          what is inside, with sizes and versions
 *
 * Compressed files are reused when their source has not changed. `--compress none` links
 * the binaries instead (for the smoke test); `--no-debs` skips the Debian download.
 */
import { spawnSync } from 'node:child_process';
import { chmodSync, copyFileSync, cpSync, existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, relative, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { build } from 'esbuild';

const HERE = dirname(fileURLToPath(import.meta.url));
const REPO = resolve(HERE, '..', '..');
/** The kit must travel with the device tool's `carry` (64 MiB with the working tree). */
export const KIT_SIZE_LIMIT_BYTES = 60 * 1e6;
/** The packages the device README names for Vulkan and GL (amd64). */
export const VULKAN_DEBS = ['libvulkan1', 'libegl1', 'libglvnd0', 'libopengl0', 'libgl1', 'libglx0', 'libgles2'];
const ORT_NATIVE = 'bin/napi-v6/linux/x64';

/** Options of `buildKit`. */
export interface BuildKitOptions {
  out?: string;
  /** 'xz' (default) compresses node and libonnxruntime; 'none' links them (local smoke runs). */
  compress?: 'xz' | 'none';
  /** Download the Vulkan loader packages (default true). */
  debs?: boolean;
  log?: (line: string) => void;
}

/** One file of the kit. */
export interface KitFile {
  path: string;
  bytes: number;
}

/** KIT.json. */
export interface KitManifest {
  createdAt: string;
  node: string;
  onnxruntimeNode: string;
  compress: 'xz' | 'none';
  files: KitFile[];
  totalBytes: number;
  /** Source fingerprints of the compressed binaries (reused when unchanged). */
  sources: Record<string, string>;
}

function fingerprint(path: string): string {
  const s = statSync(path);
  return `${path}:${s.size}:${s.mtimeMs}`;
}

function run(command: string, args: string[], options: { cwd?: string; input?: Buffer } = {}): Buffer {
  const r = spawnSync(command, args, { cwd: options.cwd, input: options.input, maxBuffer: 512 * 2 ** 20 });
  if (r.error) throw new Error(`gpu-kit: cannot run ${command}: ${r.error.message}`);
  if (r.status !== 0) throw new Error(`gpu-kit: ${command} ${args.join(' ')} failed (${r.status}): ${r.stderr.toString().trim().slice(-2000)}`);
  return r.stdout;
}

function listFiles(dir: string, base = dir): KitFile[] {
  const out: KitFile[] = [];
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    const path = join(dir, entry.name);
    if (entry.isDirectory()) out.push(...listFiles(path, base));
    else out.push({ path: relative(base, path), bytes: statSync(path).size });
  }
  return out.sort((a, b) => a.path.localeCompare(b.path));
}

/** xz -9 of `source` into `target`, skipped when KIT.json says the same source made it. */
function compressXz(source: string, target: string, previous: Record<string, string>, sources: Record<string, string>, strip: boolean, log: (line: string) => void): void {
  const key = relative(dirname(target), target);
  const print = fingerprint(source);
  sources[key] = print;
  if (existsSync(target) && previous[key] === print) {
    log(`  ${key}: unchanged (${source})`);
    return;
  }
  const started = performance.now();
  let input = source;
  let scratch: string | undefined;
  if (strip) {
    scratch = mkdtempSync(join(tmpdir(), 'gpu-kit-strip-'));
    input = join(scratch, 'stripped');
    const r = spawnSync('strip', ['-o', input, source]);
    if (r.status !== 0) input = source; // no binutils: compress the binary as it is
  }
  try {
    writeFileSync(target, run('xz', ['-9', '-c', input]));
  } finally {
    if (scratch) rmSync(scratch, { recursive: true, force: true });
  }
  log(`  ${key}: ${(statSync(source).size / 1e6).toFixed(1)} MB → ${(statSync(target).size / 1e6).toFixed(1)} MB in ${((performance.now() - started) / 1000).toFixed(0)} s`);
}

/** Downloads the amd64 Vulkan/GL packages with apt-get, the way the device README says. */
function downloadDebs(target: string, log: (line: string) => void): void {
  mkdirSync(target, { recursive: true });
  const have = readdirSync(target).filter((f) => f.endsWith('.deb'));
  if (VULKAN_DEBS.every((name) => have.some((f) => f.startsWith(`${name}_`)))) {
    log(`  debs: ${have.length} packages already there`);
    return;
  }
  const lists = mkdtempSync(join(tmpdir(), 'gpu-kit-apt-'));
  try {
    mkdirSync(join(lists, 'partial'), { recursive: true });
    const options = ['-oAPT::Architecture=amd64', '-oAPT::Architectures=amd64', `-oDir::State::Lists=${lists}`];
    run('apt-get', [...options, 'update']);
    run('apt-get', [...options, 'download', ...VULKAN_DEBS], { cwd: target });
  } finally {
    rmSync(lists, { recursive: true, force: true });
  }
  log(`  debs: ${readdirSync(target).filter((f) => f.endsWith('.deb')).join(', ')}`);
}

/** Bundles the bench into one CommonJS file (onnxruntime-node stays external: it loads native code). */
async function bundle(target: string): Promise<void> {
  const result = await build({
    entryPoints: [join(HERE, 'kit.ts')],
    outfile: target,
    bundle: true,
    platform: 'node',
    format: 'cjs',
    target: 'node20',
    external: ['onnxruntime-node', 'onnxruntime-common'],
    keepNames: true,
    logLevel: 'silent',
    banner: { js: '// FLUX WebGPU GPU kit: bundled from tools/gpu-kit/kit.ts by `npm run gpu-kit`.' },
  });
  if (result.errors.length) throw new Error(`gpu-kit: bundling failed: ${result.errors.map((e) => e.text).join('; ')}`);
}

/** Copies onnxruntime-node's JS, the Linux x64 native binding, and its library (compressed or linked). */
function copyOnnxruntime(out: string, compress: 'xz' | 'none', previous: Record<string, string>, sources: Record<string, string>, log: (line: string) => void): void {
  const node = join(REPO, 'node_modules', 'onnxruntime-node');
  const common = join(REPO, 'node_modules', 'onnxruntime-common');
  const dest = join(out, 'ort', 'onnxruntime-node');
  const onlyJs = (src: string) => statSync(src).isDirectory() || src.endsWith('.js') || src.endsWith('package.json');
  mkdirSync(dest, { recursive: true });
  copyFileSync(join(node, 'package.json'), join(dest, 'package.json'));
  cpSync(join(node, 'dist'), join(dest, 'dist'), { recursive: true, filter: onlyJs });
  const commonDest = join(out, 'ort', 'onnxruntime-common');
  mkdirSync(commonDest, { recursive: true });
  copyFileSync(join(common, 'package.json'), join(commonDest, 'package.json'));
  cpSync(join(common, 'dist', 'cjs'), join(commonDest, 'dist', 'cjs'), { recursive: true, filter: onlyJs });
  const native = join(dest, ORT_NATIVE);
  mkdirSync(native, { recursive: true });
  copyFileSync(join(node, ORT_NATIVE, 'onnxruntime_binding.node'), join(native, 'onnxruntime_binding.node'));
  const lib = join(node, ORT_NATIVE, 'libonnxruntime.so.1');
  if (compress === 'xz') compressXz(lib, join(native, 'libonnxruntime.so.1.xz'), previous, sources, false, log);
  else symlinkSync(lib, join(native, 'libonnxruntime.so.1'));
}

/**
 * Writes the kit (see the file comment).
 * @returns KIT.json's content
 * @throws when the kit would exceed KIT_SIZE_LIMIT_BYTES or a tool is missing
 */
export async function buildKit(options: BuildKitOptions = {}): Promise<KitManifest> {
  const out = resolve(options.out ?? join(REPO, '.gpu-kit'));
  const compress = options.compress ?? 'xz';
  const log = options.log ?? ((line: string) => console.log(line));
  const manifestPath = join(out, 'KIT.json');
  const previous: KitManifest | undefined = existsSync(manifestPath) ? JSON.parse(readFileSync(manifestPath, 'utf8')) : undefined;
  const sameMode = previous?.compress === compress;
  const reuse = sameMode ? previous.sources : {};
  // Start clean but keep what can be reused: the compressed binaries and the packages.
  mkdirSync(out, { recursive: true });
  const keep = new Set(['debs', ...(sameMode && compress === 'xz' ? ['node.xz', 'ort'] : [])]);
  for (const entry of readdirSync(out)) if (!keep.has(entry)) rmSync(join(out, entry), { recursive: true, force: true });

  const sources: Record<string, string> = {};
  log(`gpu-kit: writing ${out}`);
  await bundle(join(out, 'kit.cjs'));
  log(`  kit.cjs: ${(statSync(join(out, 'kit.cjs')).size / 1e6).toFixed(2)} MB`);
  copyFileSync(join(HERE, 'anchor.py'), join(out, 'anchor.py'));
  copyFileSync(join(HERE, 'run.sh'), join(out, 'run.sh'));
  chmodSync(join(out, 'run.sh'), 0o755);
  if (compress === 'xz') compressXz(process.execPath, join(out, 'node.xz'), reuse, sources, true, log);
  else symlinkSync(process.execPath, join(out, 'node'));
  copyOnnxruntime(out, compress, reuse, sources, log);
  if (options.debs ?? true) downloadDebs(join(out, 'debs'), log);

  const files = listFiles(out).filter((f) => f.path !== 'KIT.json');
  const totalBytes = files.reduce((a, f) => a + f.bytes, 0);
  const manifest: KitManifest = {
    createdAt: new Date().toISOString(),
    node: process.version,
    onnxruntimeNode: JSON.parse(readFileSync(join(REPO, 'node_modules', 'onnxruntime-node', 'package.json'), 'utf8')).version,
    compress,
    files,
    totalBytes,
    sources,
  };
  writeFileSync(manifestPath, `${JSON.stringify(manifest, null, 1)}\n`);
  if (compress === 'xz' && totalBytes > KIT_SIZE_LIMIT_BYTES) {
    throw new Error(`gpu-kit: the kit is ${(totalBytes / 1e6).toFixed(1)} MB, over the ${KIT_SIZE_LIMIT_BYTES / 1e6} MB that can travel with the device tool`);
  }
  log(`gpu-kit: ${files.length} files, ${(totalBytes / 1e6).toFixed(1)} MB in ${out}`);
  return manifest;
}

if (process.argv[1] && resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  const args = process.argv.slice(2);
  const value = (flag: string) => {
    const i = args.indexOf(flag);
    return i >= 0 ? args[i + 1] : undefined;
  };
  const compress = value('--compress') ?? 'xz';
  if (compress !== 'xz' && compress !== 'none') {
    console.error(`gpu-kit: --compress must be xz or none (got ${compress})`);
    process.exit(2);
  }
  buildKit({ out: value('--out'), compress, debs: !args.includes('--no-debs') }).catch((error) => {
    console.error((error as Error).message);
    process.exit(1);
  });
}
