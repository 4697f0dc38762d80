// The app, as its authors run it locally (`lightning-local run app.ts`). The platform team's
// stack (main.ts) deploys it into their own network and bucket.
import type { Construct } from 'constructs';
import { CloudCompute, Flow, LightningApp, ScriptWork } from 'lightning-local';

class Trainer extends Flow {
  readonly train = new ScriptWork(this, 'train', {
    script: 'train.sh',
    outputs: ['model.txt'],
    compute: CloudCompute.named('gpu-l4', { spot: true }),
  });
  constructor(scope: Construct) {
    super(scope, 'root');
  }
  override run(): void {
    this.train.run({ epochs: 1 });
    this.stopApp('trained');
  }
}

const app = new LightningApp({
  name: 'trainer',
  cloud: { project: 'acme-ml', region: 'europe-west4', zone: 'europe-west4-a' },
});
new Trainer(app);
export default app;
