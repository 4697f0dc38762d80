/** Every backend the conformance suites run against. */
import { type Backend, localBackend } from './drive-backends.ts';

export const BACKENDS: readonly Backend[] = [localBackend];
