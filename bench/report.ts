// Percentiles and the one table the benchmark prints.
export function percentiles(values: number[]) {
  const sorted = [...values].sort((a, b) => a - b)
  const at = (q: number) => (sorted.length ? sorted[Math.min(sorted.length - 1, Math.ceil(q * sorted.length) - 1)]! : NaN)
  return { p50: at(0.5), p95: at(0.95), p99: at(0.99), max: sorted.at(-1) ?? NaN, count: sorted.length }
}

export type Row = {
  label: string
  herald: number | string | undefined
  baseline: number | string | undefined
  unit: string
  /** Which way is better; 'none' for context rows (no ratio). */
  better: 'lower' | 'higher' | 'none'
  /**
   * Where the baseline has no equivalent (it is one process): the ratio is taken against this
   * instead, and says what it was, e.g. one Herald process of the same run.
   */
  reference?: { value: number | string | undefined; label: string }
}

function show(value: number | string | undefined, unit: string): string {
  if (value === undefined) return '—'
  if (typeof value === 'string') return value
  if (!Number.isFinite(value)) return 'n/a'
  const digits = Math.abs(value) >= 100 ? 0 : Math.abs(value) >= 10 ? 1 : 2
  return `${value.toLocaleString('en-US', { maximumFractionDigits: digits, minimumFractionDigits: 0 })}${unit ? ' ' + unit : ''}`
}

/**
 * "Herald is N× better": the baseline over Herald where lower wins, Herald over the baseline where
 * higher wins. A row with a `reference` is compared with that instead, and names it.
 */
function ratio(row: Row): string {
  const text = times(row.herald, row.reference ? row.reference.value : row.baseline, row.better)
  return text && row.reference ? `${text} vs ${row.reference.label} (${show(row.reference.value, row.unit)})` : text
}

function times(h: Row['herald'], b: Row['baseline'], better: Row['better']): string {
  if (better === 'none') return ''
  if (typeof h !== 'number' || typeof b !== 'number' || !Number.isFinite(h) || !Number.isFinite(b)) return ''
  if (h === b) return '1×'
  const r = better === 'lower' ? b / h : h / b
  if (!Number.isFinite(r)) return better === 'lower' ? (h === 0 ? '∞× better' : '') : ''
  return `${r >= 10 ? Math.round(r).toLocaleString('en-US') : r.toFixed(2)}× ${r >= 1 ? 'better' : 'worse'}`
}

export function formatTable(rows: Row[]): string {
  const cells = rows.filter((row) => row.herald !== undefined || row.baseline !== undefined).map((row) => [row.label, show(row.herald, row.unit), show(row.baseline, row.unit), ratio(row)])
  const header = ['measure', 'Herald', 'baseline (5 s polling)', 'Herald vs baseline']
  const widths = header.map((h, i) => Math.max(h.length, ...cells.map((c) => c[i]!.length)))
  const line = (c: string[]) => '| ' + c.map((x, i) => (i === 0 ? x.padEnd(widths[i]!) : x.padStart(widths[i]!))).join(' | ') + ' |'
  return [line(header), '|' + widths.map((w, i) => (i === 0 ? '-'.repeat(w + 2) : '-'.repeat(w + 1) + ':')).join('|') + '|', ...cells.map(line)].join('\n')
}
