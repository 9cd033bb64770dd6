// The benchmark's own parts: its numbers are only as good as its percentiles and its SSE client.
import { describe, expect, test } from 'bun:test'
import { benchCharts, drawCharts } from '../bench/curves'
import { formatTable, percentiles } from '../bench/report'
import { openStream, type SseStream } from '../bench/sse-client'
import { testHerald, until } from './helpers/herald'

describe('bench report', () => {
  test('percentiles are nearest-rank over the sorted values', () => {
    const values = Array.from({ length: 100 }, (_, i) => 100 - i) // 100..1, unsorted
    expect(percentiles(values)).toEqual({ p50: 50, p95: 95, p99: 99, max: 100, count: 100 })
    expect(percentiles([]).p50).toBeNaN()
  })

  test('the ratio reads "better" in the direction that is better, and context rows have none', () => {
    const table = formatTable([
      { label: 'latency', herald: 2, baseline: 2000, unit: 'ms', better: 'lower' },
      { label: 'publish', herald: 1000, baseline: 4000, unit: '/s', better: 'higher' },
      { label: 'cpu', herald: 5, baseline: 1, unit: '%', better: 'none' },
      { label: 'absent', herald: undefined, baseline: undefined, unit: '', better: 'lower' },
    ])
    expect(table).toContain('1,000× better')
    expect(table).toContain('0.25× worse')
    expect(table.split('\n').find((line) => line.startsWith('| cpu'))).not.toContain('×')
    expect(table).not.toContain('absent')
  })

  test('a row the baseline has no equivalent for shows "—" and is compared with its reference, named', () => {
    const table = formatTable([
      { label: 'held', herald: 50_000, baseline: undefined, unit: '', better: 'higher', reference: { value: 19_900, label: '1 process' } },
      { label: 'rss', herald: 6, baseline: undefined, unit: 'KiB', better: 'lower', reference: { value: 5, label: '1 process' } },
      { label: 'alone', herald: 12, baseline: undefined, unit: 'ms', better: 'lower', reference: { value: undefined, label: '1 instance' } },
    ])
    const line = (label: string) => table.split('\n').find((l) => l.startsWith(`| ${label} `))!
    expect(line('held').split('|').map((cell) => cell.trim())).toEqual(['', 'held', '50,000', '—', '2.51× better vs 1 process (19,900)', ''])
    expect(line('rss')).toContain('0.83× worse vs 1 process (5 KiB)')
    expect(line('alone')).not.toContain('×')
  })
})

describe('bench curves', () => {
  const results = {
    herald: { held_1000: 1000, rss_per_stream_kib_1000: 10.9, latency_p99_ms_1000: 5.3, held_19900: 19_874, rss_per_stream_kib_19900: 5.5 },
    baseline: { held_1000: 1000, rss_per_stream_kib_1000: 10.4, latency_p99_ms_1000: 4_900 },
    cluster: { 6: { clusterCurve: [{ workers: 6, streams: 110_000, rssPerStreamKiB: 5.9, deliveryP99Ms: 800 }] } },
    batchCurve: [{ size: 1000, perSecond: 31_000, deliveredPerSecond: 30_000 }, { size: 1, perSecond: 3_000 }],
  }

  test('each series takes the points the run measured, in order of x; what it did not measure is left out', () => {
    const [rss, p99, publish] = benchCharts(results)
    const points = (chart: typeof rss, name: string) => chart!.series.find((s) => s.name.startsWith(name))!.points
    expect(points(rss, 'Herald, 1 process')).toEqual([{ x: 1000, y: 10.9 }, { x: 19_874, y: 5.5 }])
    expect(points(rss, 'Herald, cluster')).toEqual([{ x: 110_000, y: 5.9 }])
    expect(points(p99, 'Herald, 1 process')).toEqual([{ x: 1000, y: 5.3 }]) // no latency measured at 19,900
    expect(points(p99, 'baseline')).toEqual([{ x: 1000, y: 4_900 }])
    expect(points(publish, 'committed')).toEqual([{ x: 1000, y: 31_000 }, { x: 1, y: 3_000 }])
    expect(points(publish, 'delivered')).toEqual([{ x: 1000, y: 30_000 }])
  })

  test('the SVG has one line per measured series, escaped labels, and says which chart has no data', () => {
    const svg = drawCharts(benchCharts({ herald: results.herald }), 'run <1> & "quick"')
    expect(svg.startsWith('<svg xmlns="http://www.w3.org/2000/svg"')).toBe(true)
    expect(svg.match(/<polyline /g)?.length).toBe(2) // RSS and p99 of one process
    expect(svg).toContain('run &lt;1&gt; &amp; &quot;quick&quot;')
    expect(svg.match(/not measured in this run/g)?.length).toBe(1) // publishes per batch size
    expect(svg).not.toContain('NaN')
    expect(svg.trimEnd().endsWith('</svg>')).toBe(true)
  })
})

describe('bench SSE client', () => {
  test('sees ready, every alarm id across chunks, and the end of a superseded stream', async () => {
    await using h = await testHerald('bench_client')
    const port = Number(new URL(h.url).port)
    const ids: number[] = []
    const { promise: readied, resolve: onReady } = Promise.withResolvers<void>()
    const { promise: ended, resolve: onEnd } = Promise.withResolvers<SseStream>()
    const events = { onReady: () => onReady(), onAlarm: (_: SseStream, id: number) => void ids.push(id), onEnd }
    const stream = openStream({ hostname: '127.0.0.1', port, path: '/connection/b1?lang=ko', user: 'b1' }, events)
    await readied
    const published: number[] = []
    for (let i = 0; i < 5; i++) {
      const res = await h.publish({ userId: 'b1', messages: { ko: `m${i}` } })
      published.push((await res.json()).id)
    }
    await until(() => ids.length === 5, 'five alarms')
    expect(ids).toEqual(published)
    const newer = await h.subscribe('b1', { lang: 'ko' }) // supersedes the bench client's stream
    expect(await ended).toBe(stream)
    expect(stream.superseded).toBe(true)
    await newer.cancel()
  })
})
