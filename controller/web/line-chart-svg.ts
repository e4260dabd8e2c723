import { escapeXml } from "./svg-plot.ts";

/** One line of a chart: points in x order, each with an optional hover text. */
export interface LineSeries {
  name: string;
  points: readonly { x: number; y: number; title?: string }[];
  /** @default the palette's next colour */
  colour?: string;
}

/** Options of {@link lineChartSvg}. */
export interface LineChartOptions {
  title: string;
  series: readonly LineSeries[];
  xLabel: string;
  yLabel: string;
  /** A dashed horizontal line (e.g. 1 = the baseline's speed). */
  reference?: { y: number; label: string };
  /** Formats y values on the axis and in hover texts. @default two decimals */
  format?: (y: number) => string;
  /** Formats x values on the axis. @default the integer */
  formatX?: (x: number) => string;
  /** Lower bound of the y axis. @default the smallest value (or reference) less a margin */
  yMin?: number;
  /** @default 760 */
  width?: number;
  /** @default 260 */
  height?: number;
}

/** Colours told apart by most people, including the red-green colour blind (Okabe-Ito). */
export const palette = [
  "#0072b2",
  "#d55e00",
  "#009e73",
  "#cc79a7",
  "#e69f00",
  "#56b4e9",
  "#000000",
  "#f0e442",
];

/** A line chart as inline SVG (scales to its container), no scripts. Names are escaped. */
export function lineChartSvg(options: LineChartOptions): string {
  const width = options.width ?? 760;
  const height = options.height ?? 260;
  const format = options.format ?? ((v: number) => v.toFixed(2));
  const formatX = options.formatX ?? ((v: number) => String(Math.round(v)));
  const left = 64;
  const right = 16;
  const top = 44;
  const bottom = 40;
  const all = options.series
    .flatMap((s) => s.points)
    .filter((p) => Number.isFinite(p.x) && Number.isFinite(p.y));
  const head = `<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 ${width} ${height}" width="100%" style="max-width:${width}px" role="img" aria-label="${escapeXml(options.title)}" class="chart"><text x="4" y="18" font-size="14" font-weight="bold">${escapeXml(options.title)}</text>`;
  if (all.length === 0)
    return `${head}<text x="${width / 2}" y="${height / 2}" text-anchor="middle" font-size="13" fill="#666">no data yet</text></svg>`;
  const ys = all.map((p) => p.y);
  if (options.reference) ys.push(options.reference.y);
  let yLo = options.yMin ?? Math.min(...ys);
  let yHi = Math.max(...ys);
  if (yHi - yLo < 1e-9) {
    yLo -= Math.max(Math.abs(yLo) * 0.1, 0.01);
    yHi += Math.max(Math.abs(yHi) * 0.1, 0.01);
  }
  const yTicks = niceTicks(yLo, yHi, 5);
  yLo = Math.min(yLo, yTicks[0] ?? yLo);
  yHi = Math.max(yHi, yTicks.at(-1) ?? yHi);
  const xs = all.map((p) => p.x);
  let xLo = Math.min(...xs);
  let xHi = Math.max(...xs);
  if (xHi === xLo) {
    xLo -= 1;
    xHi += 1;
  }
  const px = (x: number) => left + ((x - xLo) / (xHi - xLo)) * (width - left - right);
  const py = (y: number) => top + (1 - (y - yLo) / (yHi - yLo)) * (height - top - bottom);
  const parts = [head];
  for (const t of yTicks) {
    const y = py(t).toFixed(1);
    parts.push(
      `<line x1="${left}" y1="${y}" x2="${width - right}" y2="${y}" stroke="#e4e4e4"/>`,
      `<text x="${left - 6}" y="${(py(t) + 4).toFixed(1)}" font-size="11" text-anchor="end" fill="#444">${escapeXml(format(t))}</text>`,
    );
  }
  const integerXs = [...new Set(xs.map(Math.round))].sort((a, b) => a - b);
  const step = Math.max(1, Math.ceil(integerXs.length / 10));
  for (const [i, x] of integerXs.entries()) {
    if (i % step !== 0 && i !== integerXs.length - 1) continue;
    parts.push(
      `<text x="${px(x).toFixed(1)}" y="${height - bottom + 16}" font-size="11" text-anchor="middle" fill="#444">${escapeXml(formatX(x))}</text>`,
    );
  }
  parts.push(
    `<line x1="${left}" y1="${height - bottom}" x2="${width - right}" y2="${height - bottom}" stroke="#999"/>`,
    `<text x="${(left + width - right) / 2}" y="${height - 6}" font-size="12" text-anchor="middle" fill="#222">${escapeXml(options.xLabel)}</text>`,
    `<text x="14" y="${(top + height - bottom) / 2}" font-size="12" text-anchor="middle" fill="#222" transform="rotate(-90 14 ${(top + height - bottom) / 2})">${escapeXml(options.yLabel)}</text>`,
  );
  if (options.reference) {
    const y = py(options.reference.y).toFixed(1);
    parts.push(
      `<line x1="${left}" y1="${y}" x2="${width - right}" y2="${y}" stroke="#555" stroke-dasharray="5 4"/>`,
      `<text x="${width - right - 4}" y="${(py(options.reference.y) - 5).toFixed(1)}" font-size="11" text-anchor="end" fill="#555">${escapeXml(options.reference.label)}</text>`,
    );
  }
  let legendX = left;
  for (const [i, s] of options.series.entries()) {
    const colour = s.colour ?? palette[i % palette.length];
    const points = s.points.filter((p) => Number.isFinite(p.x) && Number.isFinite(p.y));
    if (points.length > 1)
      parts.push(
        `<polyline fill="none" stroke="${colour}" stroke-width="2" points="${points.map((p) => `${px(p.x).toFixed(1)},${py(p.y).toFixed(1)}`).join(" ")}"/>`,
      );
    for (const p of points)
      parts.push(
        `<circle cx="${px(p.x).toFixed(1)}" cy="${py(p.y).toFixed(1)}" r="3.5" fill="${colour}"><title>${escapeXml(p.title ?? `${s.name}: ${format(p.y)} at ${formatX(p.x)}`)}</title></circle>`,
      );
    const label = s.name.length > 24 ? `${s.name.slice(0, 23)}…` : s.name;
    parts.push(
      `<rect x="${legendX}" y="27" width="12" height="4" fill="${colour}"/>`,
      `<text x="${legendX + 16}" y="32" font-size="11" fill="#222">${escapeXml(label)}</text>`,
    );
    legendX += 24 + label.length * 6.5;
  }
  parts.push("</svg>");
  return parts.join("");
}

/** About `count` round-numbered ticks covering [lo, hi]. */
export function niceTicks(lo: number, hi: number, count: number): number[] {
  const span = hi - lo;
  const raw = span / Math.max(1, count);
  const magnitude = 10 ** Math.floor(Math.log10(raw));
  const step = ([1, 2, 2.5, 5, 10].find((m) => m * magnitude >= raw) ?? 10) * magnitude;
  const first = Math.floor(lo / step) * step;
  const ticks: number[] = [];
  for (let t = first; t <= hi + step * 1e-9; t += step) ticks.push(Number(t.toPrecision(12)));
  if ((ticks.at(-1) ?? -Infinity) < hi) ticks.push(Number((first + ticks.length * step).toPrecision(12)));
  return ticks;
}
