#!/usr/bin/env node
// Entry of the `flux-webgpu` command: runs the TypeScript CLI through tsx.
import { register } from 'tsx/esm/api';

register();
await import('./cli.ts');
