// Progress of long operations on stderr: a redrawn bar on a terminal, a log line every few seconds otherwise.
import { formatBytes, formatDuration } from './format';

export interface ProgressUpdate {
  /** What is happening now (`preparing`, `copying`, …). */
  phase: string;
  bytesDone?: number;
  bytesTotal?: number;
}

export interface ProgressSink {
  update(progress: ProgressUpdate): void;
  /** Clears the bar (TTY) so the next output starts on a clean line. */
  done(): void;
}

const noop: ProgressSink = { update: () => undefined, done: () => undefined };

/** Bytes per second over the samples of the last `window` ms. */
class RateMeter {
  private samples: Array<{ t: number; bytes: number }> = [];
  constructor(private readonly window = 5000) {}
  add(t: number, bytes: number): number | undefined {
    this.samples.push({ t, bytes });
    while (this.samples.length > 2 && t - this.samples[0].t > this.window) this.samples.shift();
    const first = this.samples[0];
    const dt = (t - first.t) / 1000;
    return dt >= 0.5 ? (bytes - first.bytes) / dt : undefined;
  }
}

/** "45% 450 MiB/1.0 GiB 50 MiB/s ETA 0:09" for one update. Pure. */
export function describeProgress(p: ProgressUpdate, rate: number | undefined): string {
  if (!p.bytesTotal) return p.phase;
  const done = p.bytesDone ?? 0;
  const pct = Math.floor((100 * done) / p.bytesTotal);
  const parts = [`${p.phase} ${pct}%`, `${formatBytes(done)}/${formatBytes(p.bytesTotal)}`];
  if (rate !== undefined && rate > 0) {
    parts.push(`${formatBytes(rate)}/s`, `ETA ${formatDuration((p.bytesTotal - done) / rate)}`);
  }
  return parts.join(' ');
}

/**
 * A progress display for one job (`label`). On a TTY it redraws one bar line; otherwise it writes
 * `progress: <label>: …` when the phase changes and at most every `intervalMs`.
 */
export function progressSink(
  label: string,
  options: { stream?: NodeJS.WriteStream; enabled?: boolean; tty?: boolean; intervalMs?: number } = {},
): ProgressSink {
  if (options.enabled === false) return noop;
  const stream = options.stream ?? process.stderr;
  const tty = options.tty ?? Boolean(stream.isTTY);
  const interval = options.intervalMs ?? (tty ? 200 : 2000);
  const meter = new RateMeter();
  let lastWrite = 0;
  let lastPhase = '';
  let drawn = false;
  return {
    update(p) {
      const now = Date.now();
      const rate = p.bytesDone !== undefined ? meter.add(now, p.bytesDone) : undefined;
      // A new phase, or the first update that knows its total, is shown at once.
      const key = `${p.phase}${p.bytesTotal ? '+' : ''}`;
      const phaseChanged = key !== lastPhase;
      if (!phaseChanged && now - lastWrite < interval) return;
      lastPhase = key;
      lastWrite = now;
      const text = describeProgress(p, rate);
      if (tty) {
        const width = Math.max(10, Math.min(30, (stream.columns ?? 80) - text.length - label.length - 8));
        const frac = p.bytesTotal ? Math.min(1, (p.bytesDone ?? 0) / p.bytesTotal) : 0;
        const filled = Math.round(frac * width);
        const bar = p.bytesTotal ? `[${'#'.repeat(filled)}${'-'.repeat(width - filled)}] ` : '';
        stream.write(`\r\x1b[K${label} ${bar}${text}`);
        drawn = true;
      } else {
        stream.write(`progress: ${label}: ${text}\n`);
      }
    },
    done() {
      if (tty && drawn) stream.write('\r\x1b[K');
      drawn = false;
    },
  };
}
