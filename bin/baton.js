#!/usr/bin/env node
// Entry point of the `baton` command: loads the TypeScript sources through tsx so that
// one checkout runs without a build step.
import { register } from 'tsx/esm/api';

register();
await import('../src/cli/main.ts');
