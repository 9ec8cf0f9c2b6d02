#!/usr/bin/env node
// The library's type declarations: `tsc -p tsconfig.lib.json` writes dist/lib/types/**.d.ts
// from src/index.ts and src/widget/index.ts; relative imports there still say ".ts" (the
// sources' style), so they are rewritten to ".js", which every TypeScript resolution mode
// maps to the .d.ts beside it. Run by `npm run build:lib` after the Vite build.
import { execFileSync } from 'node:child_process';
import { readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = fileURLToPath(new URL('../..', import.meta.url));
const out = join(root, 'dist/lib/types');
rmSync(out, { recursive: true, force: true });
const tsc = createRequire(import.meta.url).resolve('typescript/bin/tsc');
execFileSync(process.execPath, [tsc, '-p', join(root, 'tsconfig.lib.json')], { stdio: 'inherit' });

let files = 0;
for (const entry of readdirSync(out, { recursive: true, withFileTypes: true })) {
  if (!entry.isFile() || !entry.name.endsWith('.d.ts')) continue;
  const path = join(entry.parentPath, entry.name);
  const text = readFileSync(path, 'utf8');
  const fixed = text.replace(/(\bfrom\s+|\bimport\s*\(\s*)(['"])(\.{1,2}\/[^'"]+)\.ts\2/g, '$1$2$3.js$2');
  if (fixed !== text) writeFileSync(path, fixed);
  files++;
}
console.log(`wrote ${files} declaration files to dist/lib/types`);
