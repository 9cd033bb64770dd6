// docs/grafana-herald.json reads the metrics Herald has, by the names and labels it gives them.
import { expect, test } from 'bun:test'
import { aggregateMetrics, createMetrics } from '../src/metrics'
import { parseMetrics } from './helpers/metrics'

const dashboard = await Bun.file(new URL('../docs/grafana-herald.json', import.meta.url)).json()
const METRIC = /\b(?:herald|process|nodejs)_[a-z_]+/g
const GROUPED = /\b(?:by|without)\s*\(([^)]*)\)\s*\(\s*(?:rate|increase)?\(?\s*((?:herald|process|nodejs)_[a-z_]+)/g

test("every metric and label the dashboard asks for is one Herald's /metrics has (a cluster's included)", async () => {
  const metrics = createMetrics({ available: { list: ['en'] }, defaultLocale: 'en' })
  // One of everything, so every label has a sample to be read from.
  metrics.opened('en')
  metrics.delivered({ locales: ['en'], createdAt: new Date().toISOString() }, ['en'], 'ko', 0)
  metrics.publishAnswered(201, 0.01)
  metrics.fetchBatch('alarms', 3)
  metrics.commitBatch('fast', 3)
  metrics.watch({ backend: () => 'postgres', database: async () => ({ inUse: 1, open: 2, sqlAlarms: 0 }), poolMax: 10, onError() {} })
  const text = await aggregateMetrics([await metrics.snapshot()], 1)
  const scrape = parseMetrics(text)
  const families = new Set(scrape.types.keys())
  const family = (name: string) => (families.has(name) ? name : name.replace(/_(bucket|sum|count)$/, ''))
  const exprs: string[] = dashboard.panels.flatMap((panel: { targets: { expr: string }[] }) => panel.targets.map((t) => t.expr))
  expect(exprs.length).toBeGreaterThan(20)
  const missing = [...new Set(exprs.flatMap((expr) => expr.match(METRIC) ?? []))].filter((name) => !families.has(family(name)))
  expect(missing).toEqual([])
  // A label grouped by must be one of that metric's (`le` is every histogram's; `instance` and `job` Prometheus adds).
  const labelsOf = (name: string) => new Set(scrape.samples.filter((s) => family(s.name) === family(name)).flatMap((s) => Object.keys(s.labels)))
  let grouped = 0
  for (const expr of exprs)
    for (const [, labels, name] of expr.matchAll(GROUPED))
      for (const label of labels!.split(',').map((l) => l.trim()).filter((l) => l && l !== 'instance' && l !== 'job')) {
        grouped++
        expect({ name, label, known: labelsOf(name!).has(label) }).toEqual({ name, label, known: true })
      }
  expect(grouped).toBeGreaterThan(10)
})

test('the dashboard is well formed: unique panel ids, one Prometheus data source variable, panels inside the grid', () => {
  const ids = dashboard.panels.map((panel: { id: number }) => panel.id)
  expect(new Set(ids).size).toBe(ids.length)
  expect(dashboard.templating.list.find((v: { name: string }) => v.name === 'datasource').query).toBe('prometheus')
  for (const panel of dashboard.panels) expect(panel.gridPos.x + panel.gridPos.w).toBeLessThanOrEqual(24)
})
