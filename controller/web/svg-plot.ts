/** One bar of a chart. */
export interface Bar {
  label: string;
  value: number;
  /** "pass" bars are green, "fail" red, "baseline" grey, "info" blue. */
  kind: "pass" | "fail" | "baseline" | "info";
  /** Shown on hover. */
  title?: string;
}

/** Options of {@link barChartSvg}. */
export interface BarChartOptions {
  title: string;
  bars: readonly Bar[];
  /** A dashed line at this value (e.g. 1 = the baseline's speed). */
  reference?: number;
  /** Formats values on the bars. @default two decimals */
  format?: (v: number) => string;
  /** @default 640 */
  width?: number;
}

const colours: Record<Bar["kind"], string> = {
  pass: "#2e7d32",
  fail: "#c62828",
  baseline: "#757575",
  info: "#1565c0",
};

/** Escapes text for HTML and SVG. */
export function escapeXml(text: string): string {
  return text.replace(
    /[&<>"']/g,
    (c) => ({ "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;" })[c] as string,
  );
}

/** A horizontal bar chart as inline SVG, no scripts. Labels are escaped (they come from miners). */
export function barChartSvg(options: BarChartOptions): string {
  const width = options.width ?? 640;
  const format = options.format ?? ((v: number) => v.toFixed(2));
  const rowH = 22;
  const labelW = 190;
  const top = 26;
  const height = top + Math.max(1, options.bars.length) * rowH + 10;
  const values = options.bars.map((b) => (Number.isFinite(b.value) ? b.value : 0));
  const max = Math.max(options.reference ?? 0, ...values, 1e-9) * 1.1;
  const x = (v: number) => labelW + (Math.max(0, v) / max) * (width - labelW - 60);
  const parts = [
    `<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 ${width} ${height}" width="100%" style="max-width:${width}px" role="img" aria-label="${escapeXml(options.title)}" class="chart">`,
    `<text x="4" y="16" font-size="13" font-weight="bold">${escapeXml(options.title)}</text>`,
  ];
  options.bars.forEach((b, i) => {
    const y = top + i * rowH;
    const v = values[i] ?? 0;
    const label = b.label.length > 28 ? `${b.label.slice(0, 27)}…` : b.label;
    parts.push(
      `<g><title>${escapeXml(b.title ?? `${b.label}: ${format(v)}`)}</title>`,
      `<text x="4" y="${y + 15}" font-size="12">${escapeXml(label)}</text>`,
      `<rect x="${labelW}" y="${y + 3}" width="${(x(v) - labelW).toFixed(1)}" height="${rowH - 6}" fill="${colours[b.kind]}"/>`,
      `<text x="${(x(v) + 4).toFixed(1)}" y="${y + 15}" font-size="11">${escapeXml(format(v))}</text></g>`,
    );
  });
  if (options.reference !== undefined) {
    const rx = x(options.reference).toFixed(1);
    parts.push(
      `<line x1="${rx}" y1="${top - 4}" x2="${rx}" y2="${height - 6}" stroke="#000" stroke-dasharray="4 3"/>`,
    );
  }
  parts.push("</svg>");
  return parts.join("");
}
