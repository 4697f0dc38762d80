/** Every backend the conformance suites run against. */
import { type Backend, gcsBackend, localBackend } from './drive-backends.ts';

export const BACKENDS: readonly Backend[] = [localBackend, gcsBackend()];
