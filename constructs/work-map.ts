import { Construct } from 'constructs';
import type { CloudCompute } from './cloud-compute.ts';
import { checkedId, componentName } from './component-name.ts';
import { ValidationError } from './errors.ts';
import type { Work } from './work.ts';

const WORK_MAP_BRAND = Symbol.for('lightning-local.WorkMap');
export const WORK_CREATED = Symbol.for('lightning-local.workCreated');

export interface WorkMapProps {
  /**
   * Hardware of every member's VM in the cloud: the flow creates one VM per member at run
   * time from an instance template of this shape (ADR 0025); its `fallback` list and
   * `onDemandFallback` apply when GCE has no capacity. Members' own `compute` is not used.
   * @default the compute of the members created before synthesis (the first one's), else CloudCompute's defaults (e2-standard-2)
   */
  readonly compute?: CloudCompute;
}

/**
 * A collection of Works created while the app runs: fan-out such as one Work per
 * hyper-parameter. `get(key)` creates the Work on first use with `factory`; the factory
 * must build the same Work for the same key (each work's daemon calls it to find its Work).
 *
 * @example
 * readonly trials = new WorkMap(this, 'trials', (scope, key) =>
 *   new ScriptWork(scope, key, { script: 'train.py', parallel: true }),
 *   { compute: CloudCompute.named('gpu-l4', { fallback: ['gpu-t4'] }) });
 * override run() {
 *   for (const lr of ['0_1', '0_01']) this.trials.get(`lr-${lr}`).run({ lr });
 * }
 */
export class WorkMap<W extends Work = Work> extends Construct {
  static isWorkMap(x: unknown): x is WorkMap {
    return typeof x === 'object' && x !== null && (x as Record<symbol, unknown>)[WORK_MAP_BRAND] === true;
  }

  private readonly factory: (scope: Construct, key: string) => W;
  private readonly items = new Map<string, W>();
  readonly props: WorkMapProps;

  constructor(
    scope: Construct,
    id: string,
    factory: (scope: Construct, key: string) => W,
    props: WorkMapProps = {},
  ) {
    super(scope, checkedId(scope, id, new.target.name, 'WorkMap'));
    Object.defineProperty(this, WORK_MAP_BRAND, { value: true });
    this.factory = factory;
    this.props = props;
  }

  /** The Work for `key`, created on first use. Keys: letters, digits, "_" and "-". */
  get(key: string): W {
    const existing = this.items.get(key);
    if (existing) return existing;
    if (!/^[A-Za-z0-9_-]{1,63}$/.test(key)) {
      throw new ValidationError([
        {
          path: `${componentName(this)}.${key}`,
          message: `WorkMap key "${key}" may only contain letters, digits, "_" and "-" (1-63 characters)`,
          fix: 'derive keys like `lr-0_01` instead of `lr=0.01`',
        },
      ]);
    }
    const work = this.factory(this, key);
    if (work.node.scope !== this || work.node.id !== key) {
      throw new ValidationError([
        {
          path: `${componentName(this)}.${key}`,
          message: 'the WorkMap factory must create the work with (scope, key) as given',
          fix: 'write the factory as (scope, key) => new ScriptWork(scope, key, {...})',
        },
      ]);
    }
    this.items.set(key, work);
    const hook = (this as unknown as Record<symbol, unknown>)[WORK_CREATED];
    if (typeof hook === 'function') hook(work);
    return work;
  }

  has(key: string): boolean {
    return this.items.has(key);
  }

  keys(): string[] {
    return [...this.items.keys()];
  }

  values(): W[] {
    return [...this.items.values()];
  }

  get size(): number {
    return this.items.size;
  }
}
