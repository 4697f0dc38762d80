/**
 * The flagship's demo client (demo mode, which CI runs): a TypeScript Work that sends the
 * held-out digits train.py put in samples.json to the model endpoint and scores the answers.
 */
import { readFile } from 'node:fs/promises';
import type { Construct } from 'constructs';
import { type Fetched, type Path, Work, type WorkContext } from 'lightning-local';

export interface DemoState {
  sent: number;
  correct: number;
  accuracy: number | null;
  /** The training run whose model answered (from the server's answer). */
  model: string | null;
}

export interface DemoArgs {
  /** The stable model endpoint. */
  url: string;
  /** train.py's samples.json: `{inputs: number[][], labels: number[]}`. */
  samples: Path;
}

export class DemoClient extends Work<DemoState, DemoArgs> {
  constructor(scope: Construct, id: string) {
    super(scope, id, { state: { sent: 0, correct: 0, accuracy: null, model: null }, timeoutSeconds: 60 });
  }

  override async execute(args: DemoArgs, ctx: WorkContext): Promise<void> {
    // The daemon fetched the Path before the call: here it is the local file's path.
    const file = args.samples as unknown as Fetched<Path>;
    const samples = JSON.parse(await readFile(file, 'utf8')) as { inputs: number[][]; labels: number[] };
    const res = await fetch(`${args.url}/predict`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ inputs: samples.inputs }),
      signal: ctx.signal,
    });
    const body = (await res.json()) as {
      predictions?: number[];
      model?: { run?: string };
      error?: string;
    };
    if (!res.ok || !Array.isArray(body.predictions) || body.predictions.length !== samples.inputs.length) {
      throw new Error(
        `POST ${args.url}/predict answered ${res.status}: ${JSON.stringify(body).slice(0, 300)}; see the serve works' logs`,
      );
    }
    const correct = body.predictions.filter((p, i) => p === samples.labels[i]).length;
    this.state.sent = samples.inputs.length;
    this.state.correct = correct;
    this.state.accuracy = correct / samples.inputs.length;
    this.state.model = body.model?.run ?? null;
    ctx.log(
      `POST /predict with ${samples.inputs.length} held-out digits: ${correct}/${samples.inputs.length} correct ` +
        `(model ${this.state.model}; true ${samples.labels.join('')}, predicted ${body.predictions.join('')})`,
    );
  }
}
