// A progress bar for one epoch: on a terminal, one line redrawn in place at most 10 times a second
// (bar, running loss, digits per second, time left); elsewhere (a log file, CI) nothing at all, so
// logs get only the per-epoch summary lines.

export interface ProgressStream {
  isTTY?: boolean;
  columns?: number;
  write(s: string): unknown;
}

export class ProgressBar {
  private readonly start = performance.now();
  private last = -Infinity;
  private drawn = false;

  constructor(private readonly stream: ProgressStream, private readonly label: string, private readonly total: number) {}

  /** `done` of `total` digits so far; `loss` the running mean. */
  update(done: number, loss: number): void {
    if (!this.stream.isTTY) return;
    const now = performance.now();
    if (now - this.last < 100 && done < this.total) return;
    this.last = now;
    const seconds = (now - this.start) / 1000;
    const rate = done / Math.max(seconds, 1e-9);
    const eta = done > 0 ? (this.total - done) / rate : NaN;
    const width = 24;
    const filled = Math.round((width * done) / this.total);
    const text = `${this.label} [${'#'.repeat(filled)}${'.'.repeat(width - filled)}] ${done}/${this.total}` +
      `  loss ${loss.toFixed(4)}  ${Math.round(rate)} digits/s  ETA ${Number.isFinite(eta) ? `${eta.toFixed(1)} s` : '?'}`;
    this.stream.write(`\r\x1b[K${text.slice(0, (this.stream.columns || 120) - 1)}`);
    this.drawn = true;
  }

  /** Clears the bar (the caller prints the epoch's summary in its place). */
  end(): void {
    if (this.drawn) this.stream.write('\r\x1b[K');
    this.drawn = false;
  }
}
