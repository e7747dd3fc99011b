// The one home of the progress bars' drawing: the training bar (recipe/progressBar.ts) and the
// download bar of `weights pull` share the bar glyphs, the redraw in place, the redraw interval
// and the durations. Not cli-progress: it redraws on a timer of its own into a stream, while these
// bars draw when their caller reports, through an injected writer and clock (the recipe layer does
// no I/O, and tests drive them step by step with exact output), and off a terminal they print one
// line per epoch or file instead of a line per redraw.

/** At most one redraw per this many milliseconds (the last of an epoch or file always draws). */
export const REDRAW_MS = 100;

/** `width` cells, the first `frac` of them filled: ████░░░░. */
export function barGlyphs(frac: number, width = 24): string {
  const fill = Math.round(Math.min(1, Math.max(0, frac)) * width);
  return '█'.repeat(fill) + '░'.repeat(width - fill);
}

/** The text that redraws `line` in place on a terminal: back to the line's start, clear it, write. */
export function overwrite(line: string): string {
  return `\r\x1b[K${line}`;
}

/** 42s, 2m05s, 1h03m; '--' when unknown. */
export function formatDuration(seconds: number): string {
  if (!Number.isFinite(seconds) || seconds < 0) return '--';
  const s = Math.round(seconds);
  if (s < 60) return `${s}s`;
  if (s < 3600) return `${Math.floor(s / 60)}m${String(s % 60).padStart(2, '0')}s`;
  return `${Math.floor(s / 3600)}h${String(Math.floor((s % 3600) / 60)).padStart(2, '0')}m`;
}
