// Progress of long operations on stderr: a redrawn bar on a terminal, a log line every few seconds otherwise.
import { formatBytes, formatDuration } from './format';

export interface ProgressUpdate {
  /** What is happening now (`preparing`, `copying`, …). */
  phase: string;
  bytesDone?: number;
  bytesTotal?: number;
}

export interface ProgressSink {
  /** `items`: per-item figures (the disks of a backup), one bar each; without them, the job's own. */
  update(progress: ProgressUpdate & { items?: ItemProgress[] }): void;
  /** Clears the bars (TTY) so the next output starts on a clean line. */
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

/** "label [####------] copying 45% 450 MiB/1.0 GiB 50 MiB/s ETA 0:09", fitted to `columns`. Pure. */
export function barLine(label: string, p: ProgressUpdate, rate: number | undefined, columns: number): string {
  const text = describeProgress(p, rate);
  const width = Math.max(10, Math.min(30, columns - text.length - label.length - 8));
  const frac = p.bytesTotal ? Math.min(1, (p.bytesDone ?? 0) / p.bytesTotal) : 0;
  const filled = Math.round(frac * width);
  const bar = p.bytesTotal ? `[${'#'.repeat(filled)}${'-'.repeat(width - filled)}] ` : '';
  return `${label} ${bar}${text}`;
}

/** One item's progress within a job of several (a disk of a backup). */
export interface ItemProgress {
  name: string;
  bytesDone: number;
  bytesTotal: number;
}

/**
 * The progress display of a job (`label`, e.g. `backup vm1`) on stderr: one bar per item (disk), all
 * redrawn together on a TTY; otherwise one `progress: <label> <item>: …` line per item when the phase
 * changes and at most every `intervalMs`. Before any item reports, the job's own figures are shown.
 */
export function progressSink(
  label: string,
  options: { stream?: NodeJS.WriteStream; enabled?: boolean; tty?: boolean; intervalMs?: number } = {},
): ProgressSink {
  if (options.enabled === false) return noop;
  const stream = options.stream ?? process.stderr;
  const tty = options.tty ?? Boolean(stream.isTTY);
  const interval = options.intervalMs ?? (tty ? 200 : 2000);
  const meters = new Map<string, RateMeter>();
  let lastWrite = 0;
  let lastPhase = '';
  let drawnLines = 0;
  const rateOf = (key: string, bytes: number): number | undefined => {
    if (!meters.has(key)) meters.set(key, new RateMeter());
    return meters.get(key)!.add(Date.now(), bytes);
  };
  return {
    update(p) {
      const rows =
        p.items && p.items.length > 0
          ? p.items.map((i) => ({
              label: `${label} ${i.name}`,
              progress: { phase: p.phase, bytesDone: i.bytesDone, bytesTotal: i.bytesTotal },
            }))
          : [{ label, progress: p as ProgressUpdate }];
      const rates = rows.map((r) =>
        r.progress.bytesDone !== undefined ? rateOf(r.label, r.progress.bytesDone) : undefined,
      );
      const now = Date.now();
      // A new phase, new bars, or the first figures with a total are shown at once.
      const key = `${p.phase}:${rows.length}:${rows.some((r) => r.progress.bytesTotal) ? '+' : ''}`;
      if (key === lastPhase && now - lastWrite < interval) return;
      lastPhase = key;
      lastWrite = now;
      if (tty) {
        const up = drawnLines > 0 ? `\x1b[${drawnLines}A` : '';
        const lines = rows.map(
          (r, i) => `\r\x1b[K${barLine(r.label, r.progress, rates[i], stream.columns ?? 80)}\n`,
        );
        stream.write(`${up}${lines.join('')}`);
        drawnLines = rows.length;
      } else {
        for (const [i, r] of rows.entries())
          stream.write(`progress: ${r.label}: ${describeProgress(r.progress, rates[i])}\n`);
      }
    },
    done() {
      if (tty && drawnLines > 0) stream.write(`\x1b[${drawnLines}A\r\x1b[J`);
      drawnLines = 0;
    },
  };
}
