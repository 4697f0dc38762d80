#!/usr/bin/env node
// Entry point of `lightning-local`. Registers tsx so the CLI and users' app.ts files load
// as TypeScript without a build step, then hands over to cli/main.ts.
import { register } from 'tsx/esm/api';

register();
await import('./main.ts');
