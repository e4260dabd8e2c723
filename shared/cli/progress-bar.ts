/** Options of {@link createProgressBar}. */
export interface ProgressBarOptions {
  /** Label before the bar. */
  label: string;
  /** Units in all. */
  total: number;
  /** Where to draw. A non-TTY stream gets a plain line at most every `plainIntervalMs`. */
  stream: NodeJS.WritableStream & { isTTY?: boolean; columns?: number };
  /** @default 5000 */
  plainIntervalMs?: number;
  /** Clock, for tests. @default Date.now */
  now?: () => number;
}

/** A progress bar drawn in place on terminals and as periodic lines elsewhere. */
export interface ProgressBar {
  /** Sets the units done and an optional note (e.g. "3 failed"). */
  update(done: number, note?: string): void;
  /** Draws the final state and ends the line. */
  finish(note?: string): void;
}

/** Creates a progress bar. */
export function createProgressBar(options: ProgressBarOptions): ProgressBar {
  const now = options.now ?? Date.now;
  const started = now();
  const tty = Boolean(options.stream.isTTY);
  const interval = options.plainIntervalMs ?? 5000;
  let lastDraw = 0;
  let done = 0;
  let note = "";

  const render = () => {
    const total = Math.max(options.total, 1);
    const fraction = Math.min(done / total, 1);
    const elapsed = (now() - started) / 1000;
    const eta = fraction > 0 ? (elapsed / fraction) * (1 - fraction) : Number.NaN;
    const width = 24;
    const filled = Math.round(fraction * width);
    const bar = `${"█".repeat(filled)}${"░".repeat(width - filled)}`;
    const etaText = Number.isFinite(eta) ? ` eta ${eta.toFixed(0)}s` : "";
    return `${options.label} ${bar} ${done}/${options.total} ${elapsed.toFixed(1)}s${etaText}${note ? ` ${note}` : ""}`;
  };

  return {
    update(value, text) {
      done = value;
      if (text !== undefined) note = text;
      const t = now();
      if (tty) {
        if (t - lastDraw < 80) return;
        lastDraw = t;
        options.stream.write(`\r\x1b[2K${render()}`);
      } else if (t - lastDraw >= interval) {
        lastDraw = t;
        options.stream.write(`${render()}\n`);
      }
    },
    finish(text) {
      if (text !== undefined) note = text;
      options.stream.write(tty ? `\r\x1b[2K${render()}\n` : `${render()}\n`);
    },
  };
}
