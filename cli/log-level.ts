/**
 * The level of a script's log line, read from the line itself. The stream says little:
 * Python's logging, PyTorch Lightning (`Seed set to 7`), TensorBoard and tqdm write their
 * ordinary output to stderr, and some scripts print errors to stdout.
 */

export type LogLevel = 'error' | 'warning' | 'info';

// Level words as loggers print them: `ERROR:root:…`, `[ERROR]`, `2026-… ERROR …`,
// `level=error`, `error: …` at the start, glog's `E1127 12:00:00`, and Python exceptions
// (`ValueError: …`, `RuntimeError: CUDA out of memory`).
const ERROR =
  /(^|[\s[(|:])(ERROR|CRITICAL|FATAL|PANIC)([\s\]):|]|$)|^(error|fatal|panic)(\[[^\]]*\])?:|level=(error|fatal|critical)\b|^E\d{4} \d\d:\d\d|^([A-Za-z_][\w.]*)?(Error|Exception|Interrupt)(: |$)|^Segmentation fault|^Killed$/;
const WARNING =
  /(^|[\s[(|:])(WARNING|WARN)([\s\]):|]|$)|^(warning|warn)(\[[^\]]*\])?:|level=warn(ing)?\b|^W\d{4} \d\d:\d\d|\w*Warning: /;
const TRACEBACK_START =
  /^Traceback \(most recent call last\):|^During handling of the above exception|^The above exception was the direct cause/;

/**
 * Reads levels line by line for one stream of one work. It keeps the state of a Python
 * traceback, whose `File "…", line N` lines carry no level word but belong to the error.
 */
export class LogLevelReader {
  private inTraceback = false;

  levelOf(line: string): LogLevel {
    if (TRACEBACK_START.test(line)) {
      this.inTraceback = true;
      return 'error';
    }
    if (this.inTraceback) {
      // Frames and source lines are indented; the first unindented line is the exception
      // itself and ends the traceback.
      if (/^\s/.test(line) || line === '') return 'error';
      this.inTraceback = false;
      return 'error';
    }
    if (ERROR.test(line)) return 'error';
    if (WARNING.test(line)) return 'warning';
    return 'info';
  }
}
