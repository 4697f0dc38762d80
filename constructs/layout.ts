/**
 * The layout of an app's web UI (Lightning's `configure_layout`): which tabs, in which order,
 * under which names, which one opens first, and tabs that show a page at a sub-path of a
 * work's server. The root flow returns it from {@link Flow.configureLayout}; the UI server
 * reads it once at start (daemon/ui/ui-server.ts) and checks it with {@link resolveLayout}.
 *
 * @example
 * class Root extends Flow<{ epochs: number }> {
 *   readonly train = new ScriptWork(this, 'train', { script: 'train.py' });
 *   readonly board = new ScriptWork(this, 'board', { script: 'board.sh', port: 'auto', parallel: true });
 *   readonly demo = new ScriptWork(this, 'demo', { script: 'demo.py', port: 'auto', parallel: true });
 *   constructor(scope: Construct) { super(scope, 'root', { state: { epochs: 5 } }); }
 *   override configureLayout(): UiLayout {
 *     return {
 *       tabs: [
 *         { name: 'Model demo', content: this.demo },
 *         { name: 'Scalars', content: { work: this.board, path: '/#timeseries' } },
 *         { name: 'Training', content: 'overview' },
 *         { name: 'Runs', content: 'runs' },
 *       ],
 *       landing: 'Model demo',
 *     };
 *   }
 *   override run() { … }
 * }
 */
import { ValidationError, type ValidationProblem } from './errors.ts';
import { Work } from './work.ts';

/** The UI's own views: charts and flow state, the run history, the state editor, the logs. */
export type BuiltInView = 'overview' | 'runs' | 'state' | 'logs';

export const BUILT_IN_VIEWS: readonly BuiltInView[] = ['overview', 'runs', 'state', 'logs'];

/** A page of a work's server: `path` is where the tab opens (e.g. `/#timeseries`, `/docs`). */
export interface WorkPage {
  readonly work: Work;
  /** Starts with `/`; may carry a query and a `#fragment`. @default '/' */
  readonly path?: string;
}

/** One tab of the UI. */
export interface LayoutTab {
  /** The tab's label; unique in the layout. */
  readonly name: string;
  /** A built-in view, a work (its server's page at `/`), or a page at a sub-path of a work's server. */
  readonly content: BuiltInView | Work | WorkPage;
}

/**
 * The UI's tabs in order. Built-in views and work servers the layout does not name are still
 * shown, after the named tabs, under their default names: a layout orders and names, it does
 * not hide the app's state or logs from the person running it.
 */
export interface UiLayout {
  readonly tabs: readonly LayoutTab[];
  /** The tab that opens first (a `name` from `tabs`). @default the first tab */
  readonly landing?: string;
}

/** A layout as the UI gets it: plain JSON, works by name. */
export interface ResolvedLayout {
  readonly tabs: readonly (
    | { readonly name: string; readonly view: BuiltInView }
    | { readonly name: string; readonly work: string; readonly path: string }
  )[];
  readonly landing: string | null;
}

/**
 * What {@link resolveLayout} reads of a LightningApp: named structurally, so this module does
 * not import the app (whose root flow imports the layout types).
 */
export interface LayoutSource {
  readonly name: string;
  readonly root: { readonly name: string; configureLayout(): UiLayout | undefined };
  works(): readonly Work[];
}

/**
 * The root flow's layout, checked: unique non-empty names, works of this app, paths that start
 * with `/`, a landing tab that exists. Null when the flow defines none.
 * @throws ValidationError listing every problem
 */
export function resolveLayout(app: LayoutSource): ResolvedLayout | null {
  const layout = app.root.configureLayout();
  if (layout === undefined || layout === null) return null;
  const where = `${app.root.name}.configureLayout()`;
  const problems: ValidationProblem[] = [];
  if (!Array.isArray(layout.tabs)) {
    throw new ValidationError(
      [
        {
          path: where,
          message: 'returned no `tabs` array',
          fix: "return { tabs: [{ name: 'Charts', content: 'overview' }] }",
        },
      ],
      'Invalid UI layout',
    );
  }
  // By identity: another app's work may have the same name.
  const appWorks = new Set<Work>(app.works());
  const names = new Set<string>();
  const tabs: ResolvedLayout['tabs'][number][] = [];
  layout.tabs.forEach((tab, i) => {
    const at = `${where} tabs[${i}]`;
    const name = typeof tab?.name === 'string' ? tab.name.trim() : '';
    if (!name)
      problems.push({ path: at, message: 'has no name', fix: "give it a label, e.g. name: 'TensorBoard'" });
    else if (names.has(name))
      problems.push({ path: at, message: `repeats the name "${name}"`, fix: 'give each tab its own name' });
    names.add(name);
    const content = tab?.content as unknown;
    if (typeof content === 'string') {
      if ((BUILT_IN_VIEWS as readonly string[]).includes(content))
        tabs.push({ name, view: content as BuiltInView });
      else
        problems.push({
          path: at,
          message: `content "${content}" is not a view`,
          fix: `use one of ${BUILT_IN_VIEWS.map((v) => `'${v}'`).join(', ')}, a work, or { work, path }`,
        });
      return;
    }
    const page: WorkPage | undefined = Work.isWork(content)
      ? { work: content }
      : content && typeof content === 'object' && Work.isWork((content as WorkPage).work)
        ? (content as WorkPage)
        : undefined;
    if (!page) {
      problems.push({
        path: at,
        message: 'content is neither a view name nor a work',
        fix: "use 'overview', 'runs', 'state', 'logs', this.someWork, or { work: this.someWork, path: '/sub/path' }",
      });
      return;
    }
    if (!appWorks.has(page.work)) {
      problems.push({
        path: at,
        message: `work ${page.work.name} is not part of app ${app.name}`,
        fix: 'use a work of this app',
      });
      return;
    }
    const path = page.path ?? '/';
    if (typeof path !== 'string' || !path.startsWith('/') || path.startsWith('//')) {
      problems.push({
        path: at,
        message: `path ${JSON.stringify(path)} does not start with a single "/"`,
        fix: "give a path on the work's server, e.g. '/#timeseries' or '/docs'",
      });
      return;
    }
    tabs.push({ name, work: page.work.name, path });
  });
  if (layout.landing !== undefined && !names.has(layout.landing)) {
    problems.push({
      path: `${where} landing`,
      message: `"${layout.landing}" is not the name of a tab`,
      fix: `use one of: ${[...names].map((n) => `"${n}"`).join(', ') || '(no tabs)'}`,
    });
  }
  if (problems.length) throw new ValidationError(problems, 'Invalid UI layout');
  return { tabs, landing: layout.landing ?? tabs[0]?.name ?? null };
}
