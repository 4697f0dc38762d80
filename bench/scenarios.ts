/**
 * The scenarios of issue #5. Each measures ours and its baseline in this run, interleaved per
 * repeat, and reports medians over the repeats with their spread (min, max). Nothing is
 * hard-coded: a figure that could not be measured is NaN with a note saying why.
 *
 * One module per scenario under bench/scenarios/; this file names them for bench/run.ts.
 */
export type { BenchConfig } from './scenarios/common.ts';
export { scenarioIdle } from './scenarios/idle.ts';
export { scenarioLightning } from './scenarios/lightning.ts';
export { scenarioScaling, scenarioStartup } from './scenarios/startup-and-scaling.ts';
export { measureOursStreams, type StreamFigures, scenarioState } from './scenarios/streams.ts';
export { scenarioDrive, scenarioSynth } from './scenarios/synth-and-drive.ts';
