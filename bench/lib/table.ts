/** Markdown tables and number formatting for benchmark output. */

/** A Markdown table; `align` per column: 'l' or 'r'. */
export function table(
  head: readonly string[],
  rows: readonly (readonly string[])[],
  align?: string,
): string {
  const a = align ?? `l${'r'.repeat(head.length - 1)}`;
  // Columns padded to one width, as Biome formats Markdown tables, so the generated doc lints clean.
  const length = (cell: string) => [...cell].length;
  const widths = head.map((h, i) => Math.max(3, length(h), ...rows.map((r) => length(r[i] ?? ''))));
  const pad = (cell: string, i: number) => {
    const fill = ' '.repeat((widths[i] ?? 0) - length(cell));
    return a[i] === 'r' ? fill + cell : cell + fill;
  };
  const line = (cells: readonly string[]) => `| ${cells.map(pad).join(' | ')} |`;
  const rule = widths.map((w, i) => (a[i] === 'r' ? `${'-'.repeat(w - 1)}:` : '-'.repeat(w)));
  return [line(head), `| ${rule.join(' | ')} |`, ...rows.map(line)].join('\n');
}

/** 12345.6 → "12,346". */
export function int(value: number): string {
  return Math.round(value).toLocaleString('en');
}

/** A ratio as "0.93×". */
export function ratio(value: number): string {
  return `${value.toFixed(2)}×`;
}

/** Milliseconds with sensible precision. */
export function ms(value: number): string {
  return value < 10 ? value.toFixed(2) : value.toFixed(1);
}

/** A share (0–1) as a percentage, to one decimal: "100%", "99.5%". */
export function percent(share: number): string {
  return `${Math.round(share * 1000) / 10}%`;
}

/** "≥ 1.0× met" / "≥ 1.0× MISSED". */
export function verdict(value: number, target: number): string {
  return `≥ ${target}× ${value >= target ? 'met' : 'MISSED'}`;
}
