/**
 * Runs once before the suite. Integration suites that need shared services (the GCS
 * emulator) start them from their own setup files; this only checks the toolchain so a
 * missing dependency fails loudly instead of being skipped.
 */
export default function setup(): void {
  const [major] = process.versions.node.split('.').map(Number);
  if ((major ?? 0) < 20)
    throw new Error(`Node ${process.versions.node} is too old: lightning-local needs Node 20+`);
}
