// The app the cloud benchmark deploys: three CPU works that start with the flow and keep
// running (a long sleep), so "all works running" is a state the app holds until destroy.
import type { Construct } from 'constructs';
import { CloudCompute, Flow, LightningApp, ScriptWork } from '../../constructs/index.ts';

export const WORKS = ['root.a', 'root.b', 'root.c'] as const;

class Root extends Flow {
  readonly a = this.sleeper('a');
  readonly b = this.sleeper('b');
  readonly c = this.sleeper('c');
  constructor(scope: Construct) {
    super(scope, 'root');
  }
  private sleeper(id: string): ScriptWork {
    return new ScriptWork(this, id, {
      command: ['sleep', '3600'],
      parallel: true,
      compute: CloudCompute.named('cpu'),
    });
  }
  override run(): void {
    this.a.run();
    this.b.run();
    this.c.run();
  }
}

const app = new LightningApp({
  name: 'bench-apply',
  cloud: { project: 'sim-project', region: 'us-central1' },
});
new Root(app);
export default app;
