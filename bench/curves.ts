// The benchmark's curves as one SVG: RSS per stream and delivery p99 against streams held, and
// publishes per second against batch size. Drawn from the run's results (the JSON beside it), with
// no library: a few polylines, axes and labels. A curve the run did not measure is left out, and a
// chart with none says so.

export type Point = { x: number; y: number }
export type Series = { name: string; points: Point[] }
/** `logY`: for values that span decades (Herald's milliseconds beside a poller's seconds). */
export type Chart = { title: string; x: string; y: string; logX?: boolean; logY?: boolean; series: Series[] }

type Measures = Record<string, unknown>
type Results = Record<string, unknown>

const WIDTH = 1080
const PANEL = { width: 340, height: 250, top: 44, left: 58, right: 14, bottom: 46 }
const COLORS = ['#2563eb', '#dc2626', '#16a34a', '#9333ea', '#ea580c', '#0891b2']

/** The three charts of a run: what it measured, by series. */
export function benchCharts(results: Results): Chart[] {
  const herald = (results.herald ?? {}) as Measures
  const baseline = (results.baseline ?? {}) as Measures
  const cluster = clusterPoints(results)
  const bySize = (m: Measures, key: string) => sizesOf(m).map((n) => ({ x: num(m[`held_${n}`]) ?? n, y: num(m[`${key}_${n}`]) }))
  return [
    {
      title: 'RSS per stream',
      x: 'streams held',
      y: 'KiB',
      logX: true,
      series: [
        { name: 'Herald, 1 process', points: defined(bySize(herald, 'rss_per_stream_kib')) },
        { name: 'Herald, cluster (workers summed)', points: defined(cluster.map((c) => ({ x: c.streams, y: c.rssKiB }))) },
        { name: 'baseline (5 s polling)', points: defined(bySize(baseline, 'rss_per_stream_kib')) },
      ],
    },
    {
      title: 'Delivery p99',
      x: 'streams held',
      y: 'ms (log scale)',
      logX: true,
      logY: true,
      series: [
        { name: 'Herald, 1 process', points: defined(bySize(herald, 'latency_p99_ms')) },
        { name: 'Herald, cluster', points: defined(cluster.map((c) => ({ x: c.streams, y: c.p99Ms }))) },
        { name: 'baseline (5 s polling)', points: defined(bySize(baseline, 'latency_p99_ms')) },
      ],
    },
    {
      title: 'Publishes per second',
      x: 'alarms per request (batch size)',
      y: 'alarms/s',
      logX: true,
      series: [
        { name: 'committed (request → answer)', points: defined(batchPoints(results, 'perSecond')) },
        { name: 'delivered (first request → last event)', points: defined(batchPoints(results, 'deliveredPerSecond')) },
      ],
    },
  ]
}

/** The SVG of `charts` side by side, with a caption (the machine, the date). */
export function drawCharts(charts: Chart[], caption: string): string {
  const height = PANEL.top + PANEL.height + PANEL.bottom + 24 * Math.max(1, ...charts.map((c) => c.series.filter((s) => s.points.length).length))
  const panels = charts.map((chart, i) => panel(chart, i * (WIDTH / charts.length)))
  return (
    `<svg xmlns="http://www.w3.org/2000/svg" width="${WIDTH}" height="${height + 20}" viewBox="0 0 ${WIDTH} ${height + 20}" ` +
    `font-family="system-ui, sans-serif" font-size="12">\n` +
    `<rect width="100%" height="100%" fill="#fff"/>\n${panels.join('\n')}\n` +
    `<text x="8" y="${height + 12}" fill="#666">${escape(caption)}</text>\n</svg>\n`
  )
}

function panel(chart: Chart, left: number): string {
  // A series keeps its colour (its place in the chart) whether or not the others were measured.
  const series = chart.series.map((s, i) => ({ ...s, color: COLORS[i % COLORS.length]! })).filter((s) => s.points.length > 0)
  const x0 = left + PANEL.left
  const x1 = left + PANEL.width - PANEL.right
  const y0 = PANEL.top + PANEL.height
  const y1 = PANEL.top
  const parts = [`<text x="${left + 8}" y="20" font-size="14" font-weight="600">${escape(chart.title)}</text>`]
  parts.push(`<line x1="${x0}" y1="${y0}" x2="${x1}" y2="${y0}" stroke="#999"/><line x1="${x0}" y1="${y0}" x2="${x0}" y2="${y1}" stroke="#999"/>`)
  parts.push(`<text x="${(x0 + x1) / 2}" y="${y0 + 34}" text-anchor="middle" fill="#444">${escape(chart.x)}</text>`)
  parts.push(`<text x="${left + 8}" y="36" fill="#444">${escape(chart.y)}</text>`)
  if (series.length === 0) {
    parts.push(`<text x="${(x0 + x1) / 2}" y="${(y0 + y1) / 2}" text-anchor="middle" fill="#999">not measured in this run</text>`)
    return `<g>${parts.join('')}</g>`
  }
  const xs = series.flatMap((s) => s.points.map((p) => p.x))
  const ys = series.flatMap((s) => s.points.map((p) => p.y))
  const log = chart.logX && xs.every((x) => x > 0)
  const fx = (x: number) => (log ? Math.log10(x) : x)
  let [xMin, xMax] = [Math.min(...xs.map(fx)), Math.max(...xs.map(fx))]
  if (xMin === xMax) [xMin, xMax] = [xMin - 1, xMax + 1]
  const { ticks, sy } = yScale(ys, chart.logY === true, y0, y1)
  const sx = (x: number) => x0 + ((fx(x) - xMin) / (xMax - xMin)) * (x1 - x0)
  for (const tick of ticks) {
    parts.push(`<line x1="${x0}" y1="${round(sy(tick))}" x2="${x1}" y2="${round(sy(tick))}" stroke="#eee"/>`)
    parts.push(`<text x="${x0 - 6}" y="${round(sy(tick)) + 4}" text-anchor="end" fill="#666">${label(tick)}</text>`)
  }
  // The measured x values as labels, but never two on top of each other.
  let lastLabel = -Infinity
  for (const x of [...new Set(xs)].sort((a, b) => a - b)) {
    if (sx(x) - lastLabel < 30) continue
    lastLabel = sx(x)
    parts.push(`<text x="${round(sx(x))}" y="${y0 + 16}" text-anchor="middle" fill="#666">${label(x)}</text>`)
  }
  series.forEach((s, i) => {
    const color = s.color
    const points = [...s.points].sort((a, b) => a.x - b.x)
    parts.push(`<polyline fill="none" stroke="${color}" stroke-width="2" points="${points.map((p) => `${round(sx(p.x))},${round(sy(p.y))}`).join(' ')}"/>`)
    for (const p of points)
      parts.push(`<circle cx="${round(sx(p.x))}" cy="${round(sy(p.y))}" r="3" fill="${color}"><title>${escape(`${s.name}: ${label(p.x)} → ${label(p.y)} ${chart.y}`)}</title></circle>`)
    const ly = y0 + 50 + i * 18
    parts.push(`<rect x="${x0}" y="${ly - 9}" width="12" height="3" fill="${color}"/><text x="${x0 + 18}" y="${ly - 4}" fill="#333">${escape(s.name)}</text>`)
  })
  return `<g>${parts.join('')}</g>`
}

/** Sizes the single-process phases measured, from their `held_<n>` keys. */
function sizesOf(m: Measures): number[] {
  return Object.keys(m)
    .map((key) => /^held_(\d+)$/.exec(key)?.[1])
    .filter((n): n is string => n !== undefined)
    .map(Number)
    .sort((a, b) => a - b)
}

type ClusterPoint = { streams: number; rssKiB?: number; p99Ms?: number }

/** The cluster phase's worker counts: a curve of its own when the run recorded one (`clusterCurve`), else its measures. */
function clusterPoints(results: Results): ClusterPoint[] {
  const curve = findArray(results, 'clusterCurve') as { streams?: unknown; rssPerStreamKiB?: unknown; deliveryP99Ms?: unknown }[] | undefined
  if (curve) return curve.flatMap((c) => (num(c.streams) ? [{ streams: num(c.streams)!, rssKiB: num(c.rssPerStreamKiB), p99Ms: num(c.deliveryP99Ms) }] : []))
  const byWorkers = (results.cluster ?? {}) as Record<string, Measures>
  return Object.values(byWorkers).flatMap((m) => (num(m.held) ? [{ streams: num(m.held)!, rssKiB: num(m.rss_per_stream_kib), p99Ms: num(m.delivery_p99_ms) }] : []))
}

function batchPoints(results: Results, key: 'perSecond' | 'deliveredPerSecond'): { x: number; y: number | undefined }[] {
  const curve = findArray(results, 'batchCurve') as Record<string, unknown>[] | undefined
  return (curve ?? []).map((c) => ({ x: num(c.size) ?? NaN, y: num(c[key]) }))
}

/** The first array under `key`, at any depth (phases keep their curves in their own measures). */
function findArray(value: unknown, key: string, depth = 0): unknown[] | undefined {
  if (depth > 4 || typeof value !== 'object' || value === null) return undefined
  const found = (value as Record<string, unknown>)[key]
  if (Array.isArray(found)) return found
  for (const child of Object.values(value)) {
    const deeper = findArray(child, key, depth + 1)
    if (deeper) return deeper
  }
  return undefined
}

function defined(points: { x: number; y: number | undefined }[]): Point[] {
  return points.filter((p): p is Point => Number.isFinite(p.x) && p.y !== undefined && Number.isFinite(p.y))
}

function num(value: unknown): number | undefined {
  return typeof value === 'number' && Number.isFinite(value) ? value : undefined
}

/**
 * The y axis: from 0 in steps of 1, 2, 2.5 or 5 times a power of ten (axes that read at a glance),
 * or, on a log scale, the powers of ten around the values.
 */
function yScale(ys: number[], log: boolean, y0: number, y1: number): { ticks: number[]; sy: (y: number) => number } {
  const max = Math.max(...ys)
  if (log && ys.every((y) => y > 0)) {
    const low = Math.floor(Math.log10(Math.min(...ys)))
    const high = Math.max(low + 1, Math.ceil(Math.log10(max)))
    const ticks = Array.from({ length: high - low + 1 }, (_, i) => 10 ** (low + i))
    return { ticks, sy: (y) => y0 - ((Math.log10(y) - low) / (high - low)) * (y0 - y1) }
  }
  const rough = (max > 0 ? max : 1) / 4
  const power = 10 ** Math.floor(Math.log10(rough))
  const step = [1, 2, 2.5, 5, 10].map((m) => m * power).find((v) => v >= rough)!
  const top = Math.ceil(max / step) * step || step
  const ticks = Array.from({ length: Math.round(top / step) + 1 }, (_, i) => i * step)
  return { ticks, sy: (y) => y0 - (y / top) * (y0 - y1) }
}

function label(value: number): string {
  if (value >= 1000) return `${+(value / 1000).toFixed(value >= 10_000 ? 0 : 1)}k`
  return String(+value.toFixed(value >= 10 ? 0 : value >= 1 ? 1 : 3))
}

function round(value: number): number {
  return Math.round(value * 10) / 10
}

function escape(text: string): string {
  return text.replace(/[&<>"]/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;' })[c]!)
}
