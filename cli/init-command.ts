/**
 * `lightning-local init [dir]`: a new project that runs and type-checks right after
 * `npm install` (the convention of `cdktf init`, `npm create`, Lightning's `lightning init
 * app`). The files come from cli/templates/app/; package.json is written here because its
 * dependency on lightning-local depends on where this copy was installed from.
 */
import {
  existsSync,
  mkdirSync,
  readdirSync,
  readFileSync,
  realpathSync,
  statSync,
  writeFileSync,
} from 'node:fs';
import { basename, dirname, isAbsolute, join, relative, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Command } from 'commander';
import pc from 'picocolors';
import { ValidationError } from '../constructs/errors.ts';

const PACKAGE_ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const TEMPLATE_DIR = join(PACKAGE_ROOT, 'cli', 'templates', 'app');

/** Template file → name in the new project (npm drops `.gitignore` from tarballs). */
const TEMPLATE_FILES: Record<string, string> = {
  'app.ts': 'app.ts',
  'train.py': 'train.py',
  'tsconfig.json': 'tsconfig.json',
  'cdktf.json': 'cdktf.json',
  'README.md': 'README.md',
  gitignore: '.gitignore',
};

/** Entries a fresh directory may already hold (a just-cloned empty repository). */
const TOLERATED = new Set(['.git']);

interface InitOptions {
  name?: string;
  from?: string;
}

interface OwnPackage {
  name: string;
  version: string;
  devDependencies?: Record<string, string>;
  allowScripts?: Record<string, boolean>;
}

export function registerInitCommand(program: Command): void {
  program
    .command('init')
    .description('Create a new app project: app.ts wrapping a sample Python script, package.json, tsconfig.')
    .argument('[dir]', 'directory to create the project in (must be empty or absent)', '.')
    .option('--name <name>', 'app name (lowercase letters, digits, "-"); default: from the directory name')
    .option(
      '--from <spec>',
      'how the project depends on lightning-local (an npm spec: a version, file:path.tgz, …); default: where this copy was installed from',
    )
    .addHelpText(
      'after',
      `
Exit codes: 0 created, 2 bad input (a non-empty directory, an invalid name).

Examples:
  lightning-local init my-app && cd my-app && npm install && npx lightning-local run app.ts
  lightning-local init . --name vision-trainer`,
    )
    .action((dir: string, opts: InitOptions) => {
      initProject(dir, opts);
    });
}

function invalid(path: string, message: string, fix: string): never {
  throw new ValidationError([{ path, message, fix }], 'Cannot create the project');
}

/** Writes the project; returns the files written (relative to `dir`). */
export function initProject(dir: string, opts: InitOptions = {}): string[] {
  const target = resolve(dir);
  const shown = relativeSpecPath(process.cwd(), target).replace(/^\.\/(?=.)/, '') || '.';
  if (existsSync(target)) {
    if (!statSync(target).isDirectory())
      invalid(shown, 'this is a file', 'pass a directory name, e.g. my-app');
    const present = readdirSync(target).filter((e) => !TOLERATED.has(e));
    if (present.length > 0) {
      const listed =
        present.slice(0, 5).join(', ') + (present.length > 5 ? `, … (${present.length} entries)` : '');
      invalid(
        shown,
        `the directory is not empty (${listed}); init writes a whole project and would overwrite or mix with these`,
        `pick a new directory (\`lightning-local init my-app\`), or add lightning-local to this project by hand: npm install lightning-local, then write an app.ts (see the README)`,
      );
    }
  }
  const name = opts.name ?? appNameFrom(basename(target));
  if (!/^[a-z][a-z0-9-]{0,29}$/.test(name)) {
    invalid(
      opts.name === undefined ? shown : '--name',
      `"${name}" is not a valid app name (it names GCS buckets and VMs in the cloud)`,
      'pass --name with 1-30 lowercase letters, digits and "-", starting with a letter',
    );
  }
  const own = JSON.parse(readFileSync(join(PACKAGE_ROOT, 'package.json'), 'utf8')) as OwnPackage;
  const spec = opts.from ?? dependencySpec(own, target);

  mkdirSync(target, { recursive: true });
  const written: string[] = [];
  for (const [from, to] of Object.entries(TEMPLATE_FILES)) {
    const text = readFileSync(join(TEMPLATE_DIR, from), 'utf8').replaceAll('{{name}}', name);
    writeFileSync(join(target, to), text);
    written.push(to);
  }
  const pkg = {
    name,
    version: '0.1.0',
    private: true,
    // lightning-local and app files are ES modules (see the package's ADR 0006).
    type: 'module',
    scripts: {
      start: 'lightning-local run app.ts',
      typecheck: 'tsc',
      synth: 'lightning-local synth app.ts',
    },
    dependencies: { [own.name]: spec },
    // The same compiler and Node types lightning-local itself is checked with.
    devDependencies: {
      typescript: own.devDependencies?.typescript ?? '^5.9.0',
      '@types/node': own.devDependencies?.['@types/node'] ?? '^20.19.0',
    },
  };
  // npm asks the project to approve dependencies' install scripts; the ones our runtime
  // dependencies carry are approved in our package.json already, so the first install of a
  // new project does not greet the user with a warning about them.
  const allowScripts = Object.fromEntries(
    Object.entries(own.allowScripts ?? {}).filter(([dep]) => !own.devDependencies?.[dep]),
  );
  writeFileSync(
    join(target, 'package.json'),
    `${JSON.stringify(Object.keys(allowScripts).length ? { ...pkg, allowScripts } : pkg, null, 2)}\n`,
  );
  written.push('package.json');

  const cd = shown === '.' ? '' : `cd ${shown} && `;
  process.stdout.write(
    `${pc.bold('lightning')} created ${pc.bold(name)} in ${shown}: ${written.sort().join(', ')}\n` +
      `${pc.dim(`  lightning-local dependency: ${spec}`)}\n` +
      `next:\n  ${cd}npm install\n  npx lightning-local run app.ts\n`,
  );
  return written;
}

/** `My_Project 2` → `my-project-2`: the directory name as a valid app name. */
function appNameFrom(dirName: string): string {
  const cleaned = dirName
    .toLowerCase()
    .replace(/[^a-z0-9-]+/g, '-')
    .replace(/^[^a-z]+/, '')
    .replace(/-+$/, '')
    .slice(0, 30)
    .replace(/-+$/, '');
  return cleaned || 'app';
}

/**
 * The dependency spec that installs this same copy of lightning-local into `target`:
 * - installed in a project (`<x>/node_modules/lightning-local`, also npx's cache): the spec
 *   that project used, a `file:` path rewritten relative to the new project;
 * - anywhere else, a checkout (`node cli/bin.js init`): a `file:` link to it.
 */
function dependencySpec(own: OwnPackage, target: string): string {
  const root = realpathSync(PACKAGE_ROOT);
  const parent = dirname(root);
  if (basename(parent) === 'node_modules') {
    const project = dirname(parent);
    const spec = declaredSpec(join(project, 'package.json'), own.name);
    if (spec?.startsWith('file:')) {
      const path = spec.slice('file:'.length);
      const absolute = isAbsolute(path) ? path : resolve(project, path);
      return `file:${relativeSpecPath(target, absolute)}`;
    }
    if (spec) return spec;
    return `^${own.version}`;
  }
  return `file:${relativeSpecPath(target, root)}`;
}

function declaredSpec(pkgFile: string, name: string): string | undefined {
  try {
    const pkg = JSON.parse(readFileSync(pkgFile, 'utf8')) as Record<
      string,
      Record<string, string> | undefined
    >;
    return pkg.dependencies?.[name] ?? pkg.devDependencies?.[name] ?? pkg.optionalDependencies?.[name];
  } catch {
    return undefined;
  }
}

/** A path for a `file:` spec in `from`/package.json: relative when that stays readable. */
function relativeSpecPath(from: string, to: string): string {
  const rel = relative(from, to);
  if (rel === '') return '.';
  if (rel.split('/').filter((s) => s === '..').length > 3) return to;
  return rel.startsWith('.') ? rel : `./${rel}`;
}
