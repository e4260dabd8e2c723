import { niceTicks } from "./line-chart-svg.ts";
import { escapeXml } from "./svg-plot.ts";

/** One layer of a stacked bar chart: a value per category. */
export interface StackSeries {
  name: string;
  colour: string;
  values: readonly number[];
}

/** Options of {@link stackedBarChartSvg}. */
export interface StackedBarChartOptions {
  title: string;
  /** Labels of the bars, left to right. */
  categories: readonly string[];
  /** Layers from the bottom up; empty layers are left out of the legend. */
  series: readonly StackSeries[];
  xLabel: string;
  yLabel: string;
  /** @default 760 */
  width?: number;
  /** @default 260 */
  height?: number;
}

/** Vertical stacked bars as inline SVG (scales to its container), no scripts. Labels are escaped. */
export function stackedBarChartSvg(options: StackedBarChartOptions): string {
  const width = options.width ?? 760;
  const height = options.height ?? 260;
  const left = 48;
  const right = 16;
  const top = 44;
  const bottom = 40;
  const n = options.categories.length;
  const head = `<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 ${width} ${height}" width="100%" style="max-width:${width}px" role="img" aria-label="${escapeXml(options.title)}" class="chart"><text x="4" y="18" font-size="14" font-weight="bold">${escapeXml(options.title)}</text>`;
  if (n === 0)
    return `${head}<text x="${width / 2}" y="${height / 2}" text-anchor="middle" font-size="13" fill="#666">no data yet</text></svg>`;
  const totals = options.categories.map((_, i) =>
    options.series.reduce((sum, s) => sum + Math.max(0, s.values[i] ?? 0), 0),
  );
  const ticks = niceTicks(0, Math.max(1, ...totals), 4).filter((t) => Number.isInteger(t) || t > 4);
  const yHi = Math.max(1, ...totals, ticks.at(-1) ?? 1);
  const plotW = width - left - right;
  const slot = plotW / n;
  const barW = Math.max(2, Math.min(40, slot * 0.7));
  const py = (v: number) => top + (1 - v / yHi) * (height - top - bottom);
  const parts = [head];
  for (const t of ticks) {
    const y = py(t).toFixed(1);
    parts.push(
      `<line x1="${left}" y1="${y}" x2="${width - right}" y2="${y}" stroke="#e4e4e4"/>`,
      `<text x="${left - 6}" y="${(py(t) + 4).toFixed(1)}" font-size="11" text-anchor="end" fill="#444">${t}</text>`,
    );
  }
  const labelStep = Math.max(1, Math.ceil(n / 12));
  for (const [i, category] of options.categories.entries()) {
    const x = left + slot * i + (slot - barW) / 2;
    let base = 0;
    for (const s of options.series) {
      const v = Math.max(0, s.values[i] ?? 0);
      if (v === 0) continue;
      parts.push(
        `<rect x="${x.toFixed(1)}" y="${py(base + v).toFixed(1)}" width="${barW.toFixed(1)}" height="${(py(base) - py(base + v)).toFixed(1)}" fill="${s.colour}"><title>${escapeXml(`${category}: ${v} ${s.name}`)}</title></rect>`,
      );
      base += v;
    }
    if (i % labelStep === 0 || i === n - 1)
      parts.push(
        `<text x="${(x + barW / 2).toFixed(1)}" y="${height - bottom + 16}" font-size="11" text-anchor="middle" fill="#444">${escapeXml(category)}</text>`,
      );
  }
  parts.push(
    `<line x1="${left}" y1="${height - bottom}" x2="${width - right}" y2="${height - bottom}" stroke="#999"/>`,
    `<text x="${(left + width - right) / 2}" y="${height - 6}" font-size="12" text-anchor="middle" fill="#222">${escapeXml(options.xLabel)}</text>`,
    `<text x="14" y="${(top + height - bottom) / 2}" font-size="12" text-anchor="middle" fill="#222" transform="rotate(-90 14 ${(top + height - bottom) / 2})">${escapeXml(options.yLabel)}</text>`,
  );
  let legendX = left;
  for (const s of options.series) {
    if (!s.values.some((v) => v > 0)) continue;
    parts.push(
      `<rect x="${legendX}" y="24" width="10" height="10" fill="${s.colour}"/>`,
      `<text x="${legendX + 14}" y="33" font-size="11" fill="#222">${escapeXml(s.name)}</text>`,
    );
    legendX += 24 + s.name.length * 6.5;
  }
  parts.push("</svg>");
  return parts.join("");
}
