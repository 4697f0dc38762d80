/**
 * Import rules between the layers of docs/ARCHITECTURE.md, checked by `npm run lint` (so CI
 * fails on a new violation). ADR 0024 says why dependency-cruiser.
 *
 * Layers, lowest first (a layer imports only layers below it):
 *   proto/gen        generated messages
 *   constructs/      the authoring API: declares, never runs; no cdktf outside constructs/cloud
 *   constructs/bundle the app bundler (esbuild), a build tool both synthesis and local mode use
 *   constructs/cloud GCP synthesis (cdktf), loaded only to synthesize
 *   daemon/          the runtime roles: state, protocol, drive, flow loop, work daemon, UI
 *   cli/             the front end: parses the command line, calls the layers below
 *
 * An exception names the one edge it allows and why it is still there; remove it with the
 * fix. Type-only imports count (tsPreCompilationDeps): a type cycle is still a cycle a reader
 * has to hold in their head.
 */

/**
 * GCP facts under constructs/cloud that both synthesis and the cloud runtime read (machine
 * catalog, zones, prices, GCE names, the run-time VM shapes the flow creates from): plain data
 * and functions, no cdktf, so the flow role may import them ('cloud-facts-stay-pure' keeps it so).
 */
const cloudFacts = '^constructs/cloud/(catalog|zones|price-table|gce-names|run-time-plan)\\.ts$';

/**
 * Today's violations, one edge each ({ rule, from, to, why }), with why it is still there.
 * Fixing one means deleting its entry here; a new violation of the same rule still fails.
 * Empty: the last one (local mode importing the bundler from constructs/cloud) went when the
 * bundler moved to constructs/bundle/ (issue 13).
 */
const exceptions = [];

const rules = [
  {
    name: 'no-circular',
    severity: 'error',
    comment: 'An import cycle: split the shared part into a module both import.',
    from: {},
    to: { circular: true },
  },
  {
    name: 'runtime-not-to-cli',
    severity: 'error',
    comment:
      'The runtime (daemon/) and the constructs must not depend on their own front end: move what both need below cli/.',
    from: { path: '^(daemon|constructs|proto)/' },
    to: { path: '^cli/' },
  },
  {
    name: 'constructs-not-to-daemon',
    severity: 'error',
    comment:
      'Constructs only declare. A runtime role attaches to them through constructs/runtime-binding.ts, which the daemon imports, never the other way round.',
    from: { path: '^constructs/' },
    to: { path: '^daemon/' },
  },
  {
    name: 'state-is-a-pure-library',
    severity: 'error',
    comment: 'daemon/state is the data-only state core: no transport, drive, loop or UI.',
    from: { path: '^daemon/state/' },
    to: { path: '^daemon/(?!state/)' },
  },
  {
    name: 'drive-stands-alone',
    severity: 'error',
    comment: 'Drive backends serve every role and know nothing of the loop, the daemon or the protocol.',
    from: { path: '^daemon/drive/' },
    to: { path: '^daemon/(?!drive/)' },
  },
  {
    name: 'work-daemon-not-to-flow',
    severity: 'error',
    comment: 'The work daemon and the flow meet only through the protocol (proto/, daemon/protocol).',
    from: { path: '^daemon/work/' },
    to: { path: '^daemon/(flow|ui)/' },
  },
  {
    name: 'flow-not-to-work-daemon',
    severity: 'error',
    comment: 'The flow and the work daemon meet only through the protocol (proto/, daemon/protocol).',
    from: { path: '^daemon/(flow|protocol|ui)/' },
    to: { path: '^daemon/work/' },
  },
  {
    name: 'runtime-not-to-synthesis',
    severity: 'error',
    comment:
      'Runtime roles must not load GCP synthesis (constructs/cloud): it pulls in cdktf and the provider bindings (DESIGN.md §2).',
    from: { path: '^(daemon/|cli/(daemon-command|run-command|main)\\.ts$)' },
    to: { path: '^constructs/cloud/', pathNot: cloudFacts },
  },
  {
    name: 'bundler-below-synthesis',
    severity: 'error',
    comment:
      'The app bundler serves synthesis and local mode alike: it must not load synthesis (cdktf), or local mode would.',
    from: { path: '^constructs/bundle/' },
    to: { path: '^constructs/cloud/' },
  },
  {
    name: 'cloud-facts-stay-pure',
    severity: 'error',
    comment:
      'The GCP facts the runtime reads import only other facts and the constructs layer: never cdktf or the synthesis modules.',
    from: { path: cloudFacts },
    to: { path: '(^constructs/cloud/|(^|/)node_modules/(cdktf|@cdktf)/)', pathNot: cloudFacts },
  },
  {
    name: 'no-cdktf-outside-synthesis',
    severity: 'error',
    comment:
      'cdktf and @cdktf/provider-google are loaded only to synthesize: only constructs/cloud imports them (DESIGN.md §2, §5).',
    from: { path: '^(daemon|cli|constructs|proto)/', pathNot: '^constructs/cloud/' },
    to: { path: '(^|/)node_modules/(cdktf|@cdktf)/' },
  },
  {
    name: 'no-provider-index',
    severity: 'error',
    comment:
      'Import provider submodules (@cdktf/provider-google/lib/<resource>), never the package index: it costs seconds and hundreds of MB (DESIGN.md §2).',
    from: {},
    to: { path: '(^|/)node_modules/@cdktf/provider-google/lib/index\\.js$' },
  },
  {
    name: 'constructs-core-not-to-synthesis',
    severity: 'error',
    comment:
      'The authoring API loads without synthesis or the bundler; only the cdktf-free catalog (machine types, GPUs) and type-only props are shared.',
    from: { path: '^constructs/[^/]+$' },
    to: {
      path: '^constructs/(cloud|bundle)/',
      pathNot: '^constructs/cloud/(catalog|cloud-props)\\.ts$',
    },
  },
  {
    name: 'proto-is-generated-leaf',
    severity: 'error',
    comment: 'Generated code imports only its runtime library.',
    from: { path: '^proto/' },
    to: { path: '^(constructs|daemon|cli)/' },
  },
];

const exactly = (file) => `^${file.replace(/[.]/g, '\\.')}$`;

/**
 * A rule minus its exceptions, pair by pair: the rule for every other importer, and for each
 * excepted importer the same rule without the excepted target.
 */
function withExceptions(rule) {
  const mine = exceptions.filter((e) => e.rule === rule.name);
  if (mine.length === 0) return [rule];
  const asList = (x) => (x === undefined ? [] : Array.isArray(x) ? x : [x]);
  const froms = [...new Set(mine.map((e) => e.from))];
  const rest = {
    ...rule,
    from: { ...rule.from, pathNot: [...asList(rule.from.pathNot), ...froms.map(exactly)] },
  };
  const perImporter = froms.map((from) => ({
    ...rule,
    from: { ...rule.from, path: exactly(from) },
    to: {
      ...rule.to,
      pathNot: [...asList(rule.to.pathNot), ...mine.filter((e) => e.from === from).map((e) => exactly(e.to))],
    },
  }));
  return [rest, ...perImporter];
}

module.exports = {
  forbidden: rules.flatMap(withExceptions),
  options: {
    doNotFollow: { path: 'node_modules' },
    exclude: { path: '(^|/)(cdktf\\.out|\\.lightning|dist)/' },
    tsPreCompilationDeps: true,
    // No tsConfig: with it the resolver maps the bare 'constructs' package onto our own
    // constructs/ folder. Plain Node resolution (our imports carry .ts extensions) is exact.
    enhancedResolveOptions: {
      exportsFields: ['exports'],
      conditionNames: ['import', 'require', 'node', 'default', 'types'],
      mainFields: ['module', 'main', 'types', 'typings'],
    },
  },
};
