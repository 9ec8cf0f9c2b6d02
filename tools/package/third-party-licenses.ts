/**
 * The package bundles its dependencies into dist/lib and dist/cli (a consumer installs
 * nothing else), so their license notices travel with it: this Vite plugin lists every
 * npm package whose code is in the output, with its license text, in
 * `THIRD_PARTY_LICENSES.txt` beside the output.
 *
 * `collect` instances (e.g. in the worker build, whose modules are not in the main
 * bundle) add to the same list; the `write` instance writes the file after its bundle.
 */
import { existsSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { dirname, join, sep } from 'node:path';
import type { Plugin } from 'vite';

/** The package folder (the one holding package.json with a name) of a module in node_modules. */
function packageRoot(moduleId: string): string | undefined {
  const path = moduleId.replace(/^\0/, '').split('?')[0];
  const at = path.lastIndexOf(`${sep}node_modules${sep}`);
  if (at < 0) return undefined;
  const rest = path.slice(at + 14).split(sep);
  return path.slice(0, at + 14) + (rest[0].startsWith('@') ? join(rest[0], rest[1]) : rest[0]);
}

/** A list shared by the plugin instances of one build. */
export function thirdPartyLicenses(): { collect(): Plugin; write(fileName?: string): Plugin } {
  const roots = new Set<string>();
  const collect = (name: string): Plugin => ({
    name,
    generateBundle(_, bundle) {
      for (const file of Object.values(bundle)) {
        if (file.type !== 'chunk') continue;
        for (const id of file.moduleIds) {
          const root = packageRoot(id);
          if (root && existsSync(join(root, 'package.json'))) roots.add(root);
        }
      }
    },
  });
  return {
    collect: () => collect('flux-webgpu-third-party-licenses-collect'),
    write(fileName = 'THIRD_PARTY_LICENSES.txt') {
      return {
        ...collect('flux-webgpu-third-party-licenses'),
        writeBundle(options) {
          const sections = [...roots].map((root) => {
            const pkg = JSON.parse(readFileSync(join(root, 'package.json'), 'utf8')) as { name: string; version: string; license?: string };
            const licenseFile = readdirSync(root).find((f) => /^(licen[cs]e|copying|notice)(\.|$)/i.test(f));
            const text = licenseFile ? readFileSync(join(root, licenseFile), 'utf8').trim() : `(no license file; package.json says ${pkg.license ?? 'nothing'})`;
            return { title: `${pkg.name}@${pkg.version} (${pkg.license ?? 'see below'})`, text };
          }).sort((a, b) => a.title.localeCompare(b.title));
          const header = 'flux-webgpu bundles the following packages. Their licenses:\n';
          writeFileSync(join(options.dir ?? dirname(options.file!), fileName), header + sections.map((s) => `\n${'='.repeat(78)}\n${s.title}\n${'='.repeat(78)}\n\n${s.text}\n`).join(''));
        },
      };
    },
  };
}
