// The benchmark's own parts: its numbers are only as good as its percentiles and its SSE client.
import { describe, expect, test } from 'bun:test'
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
