import { Construct } from 'constructs';
import type { GcpCloudProps } from './cloud/cloud-props.ts';
import { APP_BRAND, hasBrand } from './component-name.ts';
import { ValidationError } from './errors.ts';
import { Flow } from './flow.ts';
import { Work } from './work.ts';
import { WorkMap } from './work-map.ts';

export interface LightningAppProps {
  /**
   * App name: the Drive prefix, the GCE/GCS name prefix and the `lightning-app` label.
   * Lowercase letters, digits and "-", starting with a letter, at most 30 characters.
   */
  readonly name: string;
  /**
   * Cloud settings, used only by synthesis (`cdktf synth`, `lightning-local synth`) and `cost`;
   * ignored by `lightning-local run`. @default none (synthesis asks for them)
   */
  readonly cloud?: GcpCloudProps;
}

/**
 * The root of an app: one root Flow and its Works. The same file runs locally
 * (`lightning-local run app.ts`) or synthesizes Terraform (`cdktf synth`). Export it as
 * the module's default export.
 *
 * @example
 * const app = new LightningApp({ name: 'hello' });
 * new Root(app);          // a Flow subclass with id 'root'
 * export default app;
 *
 * Inside an existing CDKTF stack: `new LightningApp(stack, 'hello', { name: 'hello' })`.
 */
export class LightningApp extends Construct {
  static isLightningApp(x: unknown): x is LightningApp {
    return hasBrand(x, APP_BRAND);
  }

  readonly props: LightningAppProps;

  constructor(props: LightningAppProps);
  constructor(scope: Construct, id: string, props: LightningAppProps);
  constructor(a: LightningAppProps | Construct, b?: string, c?: LightningAppProps) {
    const props = (c ?? a) as LightningAppProps;
    if (b === undefined) super(undefined as unknown as Construct, '');
    else super(a as Construct, b);
    Object.defineProperty(this, APP_BRAND, { value: true });
    this.props = props;
    if (typeof props?.name !== 'string' || !/^[a-z][a-z0-9-]{0,29}$/.test(props.name)) {
      throw new ValidationError([
        {
          path: 'LightningApp',
          message: `app name ${JSON.stringify(props?.name)} is invalid`,
          fix: 'use lowercase letters, digits and "-", starting with a letter, at most 30 characters',
        },
      ]);
    }
  }

  get name(): string {
    return this.props.name;
  }

  /** The root Flow: the app's single Flow child. */
  get root(): Flow {
    const flows = this.node.children.filter((c) => Flow.isFlow(c)) as Flow[];
    if (flows.length !== 1) {
      throw new ValidationError([
        {
          path: this.name,
          message: `an app needs exactly one root Flow, found ${flows.length}`,
          fix: 'create one Flow subclass with the app as its scope, e.g. new Root(app, "root")',
        },
      ]);
    }
    return flows[0]!;
  }

  /** Every Work declared in the tree (WorkMap members created so far included). */
  works(): Work[] {
    return this.node.findAll().filter((c) => Work.isWork(c)) as Work[];
  }

  flows(): Flow[] {
    return this.node.findAll().filter((c) => Flow.isFlow(c)) as Flow[];
  }

  workMaps(): WorkMap[] {
    return this.node.findAll().filter((c) => WorkMap.isWorkMap(c)) as WorkMap[];
  }

  /**
   * Finds a component by dotted name (`root.trials.lr-0_1`), creating WorkMap members on
   * the way, as a work daemon does to find its Work.
   */
  find(name: string): Work | Flow | undefined {
    let cur: Construct = this;
    for (const id of name.split('.')) {
      const child = cur.node.tryFindChild(id);
      if (child) cur = child as Construct;
      else if (WorkMap.isWorkMap(cur)) cur = cur.get(id);
      else return undefined;
    }
    return Work.isWork(cur) || Flow.isFlow(cur) ? cur : undefined;
  }
}
