#!/usr/bin/env node
// Entry of the `flux-webgpu` command. In this repository it runs the TypeScript sources
// (tools/cli.ts) through tsx, a dev dependency; an installed package has no sources and
// runs the precompiled dist/cli/cli.js (built by `npm pack`), which needs neither.
import { existsSync } from 'node:fs';

if (existsSync(new URL('./cli.ts', import.meta.url))) {
  const { register } = await import('tsx/esm/api');
  register();
  await import('./cli.ts');
} else {
  await import('../dist/cli/cli.js');
}
