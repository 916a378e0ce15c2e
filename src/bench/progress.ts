/**
 * A hand-made progress bar on stderr: one line redrawn in place on a terminal, and one line
 * per 10 % when stderr is not a TTY (CI logs, test runs), so nothing floods a log file.
 */

/** One bar for one phase of the benchmark. */
export class Progress {
  private done = 0;
  private lastDraw = 0;
  private lastDecile = -1;
  private readonly start = Date.now();
  private readonly tty = process.stderr.isTTY === true;

  /** `quiet` draws nothing (the smoke test). */
  constructor(
    private readonly label: string,
    private readonly total: number,
    private readonly quiet = false,
  ) {
    this.draw(true);
  }

  /** Adds `n` units of work done. */
  tick(n = 1): void {
    this.done += n;
    this.draw(false);
  }

  /** Sets the work done to `n`. */
  set(n: number): void {
    this.done = n;
    this.draw(false);
  }

  /** Draws the final state and ends the line; `note` is appended (e.g. the figure measured). */
  finish(note = ''): void {
    this.done = Math.max(this.done, this.total);
    if (this.quiet) return;
    process.stderr.write(`${this.tty ? '\r\x1b[2K' : ''}${this.line()}${note ? `  ${note}` : ''}\n`);
  }

  private line(): string {
    const frac = this.total > 0 ? Math.min(1, this.done / this.total) : 1;
    const width = 30;
    const full = Math.round(frac * width);
    const secs = ((Date.now() - this.start) / 1000).toFixed(1);
    return `${this.label.padEnd(34)} [${'#'.repeat(full)}${'.'.repeat(width - full)}] ${(frac * 100).toFixed(0).padStart(3)}% ${this.done}/${this.total} ${secs}s`;
  }

  private draw(force: boolean): void {
    if (this.quiet) return;
    const now = Date.now();
    if (this.tty) {
      // Redrawing more than ~10 times a second costs CPU the benchmark is measuring.
      if (!force && now - this.lastDraw < 100) return;
      this.lastDraw = now;
      process.stderr.write(`\r\x1b[2K${this.line()}`);
      return;
    }
    const decile = this.total > 0 ? Math.floor((this.done / this.total) * 10) : 10;
    if (force || decile > this.lastDecile) {
      this.lastDecile = decile;
      if (decile < 10) process.stderr.write(`${this.line()}\n`);
    }
  }
}
