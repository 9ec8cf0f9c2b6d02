import { fileURLToPath } from 'node:url';
import { defineConfig, type Plugin } from 'vitest/config';

const here = (path: string) => fileURLToPath(new URL(path, import.meta.url));

/**
 * The Content-Security-Policy lives in index.html and embed.html as a `<meta>` (see
 * src/widget/README.md, "Content-Security-Policy"). This plugin adjusts it:
 * - build: appends the origins in `FLUX_CSP_CONNECT_SRC` (space-separated, e.g.
 *   "https://models.example.com https://my-proxy.example.com") to `connect-src`, for a
 *   deployment whose model host or provider proxy is on another origin;
 * - dev server (`npm start`): also allows what Vite's dev client needs (its injected
 *   `<style>` tags and the HMR websocket). The built files carry the strict policy.
 */
function contentSecurityPolicy(): Plugin {
  return {
    name: 'flux-webgpu-csp',
    transformIndexHtml: {
      order: 'post',
      handler(html, context) {
        const extra = (process.env.FLUX_CSP_CONNECT_SRC ?? '').split(/\s+/).filter((s) => /^[\w*.:/'-]+$/.test(s));
        const dev = Boolean(context.server);
        return html.replace(/(<meta http-equiv="Content-Security-Policy" content=")([^"]*)(")/i, (_, open: string, policy: string, close: string) => {
          const directives = policy.split(';').map((d) => d.trim()).filter(Boolean).map((d) => {
            const [name, ...sources] = d.split(/\s+/);
            if (name === 'connect-src') sources.push(...extra, ...(dev ? ['ws:', 'wss:'] : []));
            if (name === 'style-src' && dev) sources.push("'unsafe-inline'");
            return [name, ...sources].join(' ');
          });
          return `${open}${directives.join('; ')}${close}`;
        });
      },
    },
  };
}

export default defineConfig({
  // Relative URLs so the built app works from any static host and sub-path.
  base: './',
  server: { host: '127.0.0.1', port: 5173 },
  preview: { host: '127.0.0.1', port: 4173 },
  plugins: [contentSecurityPolicy()],
  // keepNames: readable class names in stack traces (error classes state their `name` as a
  // literal in errors.ts, so their identity across the worker does not depend on it).
  worker: { format: 'es', rolldownOptions: { output: { keepNames: true } } },
  // onnxruntime-web finds its wasm relative to its own module: keep it out of the
  // dev server's dependency pre-bundling.
  optimizeDeps: { exclude: ['onnxruntime-web'] },
  build: {
    target: 'es2022',
    rolldownOptions: {
      // The app page, the iframe embed, and the embeddable widget under a stable name
      // (dist/widget.js); everything else is hashed under assets/.
      input: { index: here('./index.html'), embed: here('./embed.html'), widget: here('./src/widget/index.ts') },
      preserveEntrySignatures: 'exports-only',
      output: {
        keepNames: true,
        entryFileNames: (chunk) => (chunk.name === 'widget' ? 'widget.js' : 'assets/[name]-[hash].js'),
      },
    },
  },
  test: {
    include: ['test/**/*.test.ts'],
    testTimeout: 60_000,
    hookTimeout: 180_000,
    // The numerics tests are CPU-bound; two cores on CI.
    maxWorkers: 2,
  },
});
