import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts', 'constructs/**/*.test.ts', 'daemon/**/*.test.ts', 'cli/**/*.test.ts'],
    exclude: ['**/node_modules/**', '**/.lightning/**', '**/cdktf.out/**'],
    // Integration tests start real processes, servers and an emulator: generous timeouts,
    // and no more parallel files than this 2-core machine can carry without flaking.
    testTimeout: 60_000,
    hookTimeout: 120_000,
    pool: 'forks',
    maxWorkers: 2,
    globalSetup: ['test/global-setup.ts'],
    // Tests read the CLI's output; CI=true alone turns picocolors on in every child process.
    // The colour test (terminal-colours-by-level…) removes this when it wants colour.
    env: { NO_COLOR: '1' },
  },
});
