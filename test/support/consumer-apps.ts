/**
 * The npm package as a web developer meets it: `npm pack` of this repository, then fresh
 * consumer projects (a Vite app, a webpack 5 app, a bare install) in a temporary folder
 * that get the tarball through a plain `npm install`. Shared by
 * test/browser/consumer-apps.test.ts and the `package` bench (tools/bench/package-size.ts).
 *
 * Installs use the npm cache (`--prefer-offline`) and the registry for what the cache
 * lacks. Nothing of this repository's npm setup reaches them: the child processes get no
 * `npm_config_*` variables from the parent except where the registry and the cache are.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdirSync, readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';

export const REPO_ROOT = resolve(import.meta.dirname, '../..');

/** The versions this repository itself uses, so a consumer install mostly hits the npm cache. */
function ownVersion(name: string): string {
  return (JSON.parse(readFileSync(join(REPO_ROOT, 'node_modules', name, 'package.json'), 'utf8')) as { version: string }).version;
}

/** A clean environment for npm and the consumers' tools. */
export function consumerEnv(): NodeJS.ProcessEnv {
  const keep = /^npm_config_(cache|registry|proxy|https_proxy|http_proxy|noproxy|no_proxy|strict_ssl|cafile|userconfig)$/i;
  const env: NodeJS.ProcessEnv = {};
  for (const [key, value] of Object.entries(process.env)) {
    if (/^npm_/i.test(key) && !keep.test(key)) continue;
    env[key] = value;
  }
  return { ...env, NO_COLOR: '1', FORCE_COLOR: '0', NODE_ENV: undefined };
}

/** Output of a finished command. */
export interface CommandResult {
  code: number;
  stdout: string;
  stderr: string;
  ms: number;
}

/** Runs a command; `check` (default) rejects on a non-zero exit with the output's tail. */
export function run(command: string, args: string[], cwd: string, { check = true, timeoutMs = 600_000 } = {}): Promise<CommandResult> {
  const started = performance.now();
  return new Promise((done, fail) => {
    const child = spawn(command, args, { cwd, env: consumerEnv(), stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d));
    child.stderr.on('data', (d: Buffer) => (stderr += d));
    const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
    child.on('error', (error) => {
      clearTimeout(timer);
      fail(error);
    });
    child.on('close', (code) => {
      clearTimeout(timer);
      const result = { code: code ?? -1, stdout, stderr, ms: performance.now() - started };
      if (check && result.code !== 0) fail(new Error(`${command} ${args.join(' ')} (in ${cwd}) exited with ${result.code}:\n${(stdout + stderr).slice(-4000)}`));
      else done(result);
    });
  });
}

/** The packed library. */
export interface PackedLibrary {
  tarball: string;
  /** Paths inside the tarball, without the "package/" prefix. */
  files: string[];
  /** Bytes of the .tgz, and unpacked. */
  size: number;
  unpackedSize: number;
  ms: number;
}

/** `npm pack` of this repository (its `prepack` builds dist/lib and dist/cli) into `outDir`. */
export async function packLibrary(outDir: string): Promise<PackedLibrary> {
  mkdirSync(outDir, { recursive: true });
  const result = await run('npm', ['pack', '--json', '--pack-destination', outDir], REPO_ROOT);
  const json = result.stdout.slice(result.stdout.indexOf('['));
  const [info] = JSON.parse(json) as { filename: string; size: number; unpackedSize: number; files: { path: string }[] }[];
  return { tarball: join(outDir, info.filename), files: info.files.map((f) => f.path), size: info.size, unpackedSize: info.unpackedSize, ms: result.ms };
}

/** Writes `files` (path → text) under `dir`. */
export function writeFiles(dir: string, files: Record<string, string>): void {
  for (const [path, text] of Object.entries(files)) {
    mkdirSync(dirname(join(dir, path)), { recursive: true });
    writeFileSync(join(dir, path), text);
  }
}

/** A plain `npm install` in `dir` (cache first). */
export function npmInstall(dir: string): Promise<CommandResult> {
  return run('npm', ['install', '--prefer-offline', '--no-audit', '--no-fund', '--loglevel=error'], dir);
}

/** Total apparent size of the regular files under `dir`. */
export function treeSize(dir: string): number {
  let total = 0;
  for (const entry of readdirSync(dir, { withFileTypes: true, recursive: true })) {
    if (entry.isFile()) total += statSync(join(entry.parentPath, entry.name)).size;
  }
  return total;
}

/** Top-level package folders under `dir`/node_modules ("@scope/name" for scoped ones). */
export function installedPackages(dir: string): string[] {
  const root = join(dir, 'node_modules');
  const names: string[] = [];
  for (const entry of readdirSync(root)) {
    if (entry.startsWith('.')) continue;
    if (entry.startsWith('@')) for (const scoped of readdirSync(join(root, entry))) names.push(`${entry}/${scoped}`);
    else names.push(entry);
  }
  return names.sort();
}

/** The page code both apps bundle: `window.fluxConsumer.generate()` / `.widget()` return plain values. */
const PAGE_API = String.raw`
const MODEL = '/models/demo/';
const REQUEST = { prompt: 'a lighthouse on a cliff at dusk', width: 64, height: 64, steps: 1, seed: 42 };

async function describe(result) {
  const image = result.images[0];
  return { backend: result.backend, width: result.width, height: result.height, type: image.type, timings: result.timings, bytes: Array.from(new Uint8Array(await image.arrayBuffer())) };
}

function failure(error) {
  return { error: { name: error?.name, message: String(error?.message ?? error) } };
}

window.fluxConsumer = {
  async generate() {
    const generator = createGenerator({ model: MODEL, allowAnySize: true, privacy: 'local-only' });
    try {
      return await describe(await generator.generate(REQUEST));
    } catch (error) {
      return failure(error);
    } finally {
      await generator.dispose();
    }
  },
  /** With the worker and the wasm looked for where they are not: what the caller gets. */
  async misplaced() {
    const out = {};
    for (const [asset, where] of [['worker', { workerUrl: '/missing/generator.worker.js' }], ['wasm', { wasmPaths: '/missing/' }]]) {
      const generator = createGenerator({ model: MODEL, allowAnySize: true, privacy: 'local-only', ...where });
      try {
        await generator.generate(REQUEST);
        out[asset] = { generated: true };
      } catch (error) {
        out[asset] = { name: error?.name, asset: error?.asset, url: error?.url, message: String(error?.message), isLibraryAssetError: error instanceof LibraryAssetError };
      } finally {
        await generator.dispose();
      }
    }
    return out;
  },
  async widget() {
    try {
      const element = document.querySelector('flux-generator');
      if (!element || typeof element.generate !== 'function') return failure(new Error('<flux-generator> is not defined'));
      return await describe(await element.generate(REQUEST));
    } catch (error) {
      return failure(error);
    }
  },
};
`;

/** What `fluxConsumer.generate()` / `.widget()` return. */
export interface PageImage {
  backend?: string;
  width?: number;
  height?: number;
  type?: string;
  /** The generator's own timings (ms): loadMs, encodeMs, denoiseMs, decodeMs, totalMs. */
  timings?: Record<string, number>;
  bytes?: number[];
  error?: { name: string; message: string };
}

/**
 * A Vite app (TypeScript): `src/main.ts` uses `createGenerator`, `src/api-types-check.ts`
 * uses the public types for `tsc --noEmit` (with `// @ts-expect-error` lines that fail if
 * the types were `any`).
 */
export function writeViteApp(dir: string, tarball: string): void {
  writeFiles(dir, {
    'package.json': JSON.stringify({
      name: 'flux-webgpu-vite-consumer',
      private: true,
      type: 'module',
      dependencies: { 'flux-webgpu': `file:${tarball}` },
      devDependencies: { vite: ownVersion('vite'), typescript: ownVersion('typescript') },
    }, null, 2),
    'tsconfig.json': JSON.stringify({
      compilerOptions: { target: 'ES2022', module: 'ESNext', moduleResolution: 'bundler', lib: ['ES2022', 'DOM', 'DOM.Iterable'], types: [], strict: true, noEmit: true, skipLibCheck: false, isolatedModules: true },
      include: ['src'],
    }, null, 2),
    'index.html': '<!doctype html>\n<html lang="en">\n  <head><meta charset="utf-8" /><title>Vite consumer</title></head>\n  <body><script type="module" src="/src/main.ts"></script></body>\n</html>\n',
    'src/main.ts': `// @ts-nocheck: the page code is shared with the webpack app (plain JS)\nimport { createGenerator, LibraryAssetError } from 'flux-webgpu';\n${PAGE_API}`,
    'src/api-types-check.ts': `import { createGenerator, InvalidParameterError, LibraryAssetError, type GenerateParams, type GenerateResult, type Generator, type GeneratorOptions } from 'flux-webgpu';
import { FluxGeneratorElement, TAG_NAME } from 'flux-webgpu/widget';

const options: GeneratorOptions = { model: '/models/demo/', allowAnySize: true, privacy: 'local-only', workerUrl: new URL('https://cdn.example/flux/generator.worker.js'), wasmPaths: 'https://cdn.example/flux/' };
const generator: Generator = createGenerator(options);
const params: GenerateParams = { prompt: 'a fox', width: 64, height: 64, steps: 1, seed: 1, outputFormat: 'png', onProgress: (e) => console.log(e.stage) };
export async function check(): Promise<number> {
  const result: GenerateResult = await generator.generate(params);
  const blob: Blob = result.images[0];
  const where: 'local' | string = result.backend;
  try {
    generator.validate({ prompt: '', width: 1 });
  } catch (error) {
    if (error instanceof InvalidParameterError) console.log(error.field.toUpperCase());
    if (error instanceof LibraryAssetError) console.log(error.asset === 'wasm', error.url);
  }
  const element = document.querySelector(TAG_NAME) as FluxGeneratorElement | null;
  await element?.generate({ prompt: 'a fox' });
  // @ts-expect-error width is a number
  generator.validate({ prompt: 'x', width: '64' });
  // @ts-expect-error privacy is one of three modes
  createGenerator({ model: '/m/', privacy: 'everywhere' });
  // @ts-expect-error there is no such export
  void import('flux-webgpu').then((m) => m.notExported);
  return blob.size + where.length;
}
`,
  });
}

/** A webpack 5 app (plain JS, no webpack config): `createGenerator` and `<flux-generator>` via 'flux-webgpu/widget'. */
export function writeWebpackApp(dir: string, tarball: string): void {
  writeFiles(dir, {
    'package.json': JSON.stringify({
      name: 'flux-webgpu-webpack-consumer',
      private: true,
      dependencies: { 'flux-webgpu': `file:${tarball}` },
      devDependencies: { webpack: '^5.90.0', 'webpack-cli': '^6.0.0' },
    }, null, 2),
    'src/index.js': `import { createGenerator, LibraryAssetError } from 'flux-webgpu';\nimport 'flux-webgpu/widget';\n${PAGE_API}`,
  });
}

/**
 * The webpack app's page (webpack writes no HTML without a plugin). Its widget loads the
 * worker and the wasm from `libraryOrigin` + "/lib/" (another origin, as a CDN would serve
 * the package's dist/lib) through the `worker-url` and `wasm-paths` attributes.
 */
export function webpackIndexHtml(libraryOrigin: string): string {
  return `<!doctype html>
<html lang="en">
  <head><meta charset="utf-8" /><title>webpack consumer</title></head>
  <body>
    <flux-generator model="/models/demo/" privacy="local-only" allow-any-size width="64" height="64" steps="1" seed="42"
      worker-url="${libraryOrigin}/lib/generator.worker.js" wasm-paths="${libraryOrigin}/lib/"></flux-generator>
    <script src="main.js"></script>
  </body>
</html>
`;
}

/** A running `vite` dev server. */
export interface DevServer {
  url: string;
  close(): Promise<void>;
}

/** Starts the consumer's Vite dev server on an ephemeral port. */
export function startViteDevServer(dir: string): Promise<DevServer> {
  const child: ChildProcess = spawn(process.execPath, [join(dir, 'node_modules/vite/bin/vite.js'), '--host', '127.0.0.1', '--port', '0', '--clearScreen', 'false'], { cwd: dir, env: consumerEnv(), stdio: ['ignore', 'pipe', 'pipe'] });
  let output = '';
  const close = () => new Promise<void>((done) => {
    if (child.exitCode !== null) return done();
    child.once('exit', () => done());
    child.kill('SIGTERM');
  });
  return new Promise((done, fail) => {
    const timer = setTimeout(() => void close().then(() => fail(new Error(`vite dev did not start:\n${output}`))), 60_000);
    const onData = (d: Buffer) => {
      output += d;
      const match = /Local:\s+(http:\/\/127\.0\.0\.1:\d+\/)/.exec(output.replace(/\x1b\[[0-9;]*m/g, ''));
      if (match) {
        clearTimeout(timer);
        done({ url: match[1], close });
      }
    };
    child.stdout!.on('data', onData);
    child.stderr!.on('data', onData);
    child.on('exit', (code) => {
      clearTimeout(timer);
      fail(new Error(`vite dev exited with ${code}:\n${output}`));
    });
  });
}

/** True when `path` exists under the consumer's node_modules. */
export function hasInstalled(dir: string, name: string): boolean {
  return existsSync(join(dir, 'node_modules', name));
}
