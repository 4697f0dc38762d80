/**
 * What Flow and Work share: a checked id, a brand that survives two copies of this package,
 * declared props with an initial `state`, and the runtime binding a role attaches after the
 * tree is built (constructs/runtime-binding.ts). Not exported from the public entry.
 */
import { Construct } from 'constructs';
import { checkedId, componentName } from './component-name.ts';
import { ProblemCollector } from './errors.ts';
import type { StateShape } from './json.ts';
import { BINDING, notRunning } from './runtime-binding.ts';

export abstract class Component<
  S extends StateShape,
  P extends { readonly state?: S },
  B extends { readonly state: object },
> extends Construct {
  readonly props: P;
  /** @internal */
  [BINDING]: B | undefined;

  /**
   * @param kind 'Flow' or 'Work', for messages
   * @param brand the symbol `isFlow`/`isWork` look for
   */
  constructor(scope: Construct, id: string, props: P, kind: 'Flow' | 'Work', brand: symbol) {
    super(scope, checkedId(scope, id, new.target.name, kind));
    Object.defineProperty(this, brand, { value: true });
    this.props = props;
    this[BINDING] = undefined;
  }

  /** Dotted construct path relative to the app, e.g. `root.train`. */
  get name(): string {
    return componentName(this);
  }

  /** Initial state, as declared. */
  get initialState(): S {
    return (this.props.state ?? {}) as S;
  }

  /** The component's state while the app runs (see the Flow and Work docs for who writes it). */
  get state(): S {
    return this.bound('.state').state as S;
  }

  /** The binding, or the error that says this member works only while the app runs. */
  protected bound(member: string): B {
    const b = this[BINDING];
    if (!b) throw notRunning(`${this.name}${member}`);
    return b;
  }

  /**
   * A collector holding the id's problems, for the subclass to add its own to and throw all
   * at once (ids name state keys, log prefixes, Terraform ids and daemons, so only a safe set).
   */
  protected idProblems(id: string, kind: 'flow' | 'work'): ProblemCollector {
    const problems = new ProblemCollector();
    if (!/^[A-Za-z0-9_-]+$/.test(id)) {
      problems.add(
        this.name,
        `id "${id}" may only contain letters, digits, "_" and "-"`,
        `rename the ${kind}`,
      );
    }
    return problems;
  }
}
