// Cluster mode's /metrics with real processes: whichever worker a scrape reaches, its figures are
// every worker's; a worker that cannot answer is left out and said to be; the logs name the worker.
import { afterAll, beforeAll, expect, test } from 'bun:test'
import { freePort } from '../src/cli/process'
import { testDb, type TestDb } from './helpers/db'
import { ready } from './helpers/herald'
import { parseMetrics, type Scrape } from './helpers/metrics'
import { connectionOwners, spawnEntry } from './helpers/process'
import { readSse, type SseReader } from './helpers/sse'

let db: TestDb
beforeAll(async () => {
  db = await testDb('cluster_metrics')
})
afterAll(async () => {
  await db[Symbol.asyncDispose]()
})

/** A scrape on a connection of its own (so the kernel picks a worker afresh), or undefined if none answers in time. */
async function scrapeOnce(url: string, timeoutMs = 4000): Promise<Scrape | undefined> {
  try {
    const res = await fetch(`${url}/metrics`, { headers: { connection: 'close' }, signal: AbortSignal.timeout(timeoutMs) })
    expect(res.status).toBe(200)
    return parseMetrics(await res.text())
  } catch (error) {
    if ((error as Error).name === 'TimeoutError') return undefined
    throw error
  }
}

test.skipIf(process.platform !== 'linux')(
  "a scrape reaching any worker reports every worker's streams and publishes; a frozen worker is left out and counted",
  async () => {
    const port = freePort()
    const url = `http://127.0.0.1:${port}`
    const { REDIS_URL: _, HERALD_REDIS_PREFIX: __, ...inherited } = process.env
    const cluster = spawnEntry('src/cli/main.ts', {
      env: { ...inherited, DATABASE_URL: db.url, PORT: String(port), HOST: '127.0.0.1', HERALD_WORKERS: '2', HERALD_LOG: 'json' },
    })
    const streams: SseReader[] = []
    let frozen: number | undefined
    try {
      await cluster.waitFor(/listening on/, 2)
      const pids = (await cluster.waitFor(/worker \d started \(pid (\d+)\)/, 2)).map((m) => Number(m[1]))
      // Streams until both workers hold some (the kernel hashes each connection to one), at most 40.
      for (let i = 0; i < 40; i++) {
        const stream = readSse(await fetch(`${url}/connection/spread-${i}?lang=en`))
        await ready(stream)
        streams.push(stream)
        const held = new Set(connectionOwners(port, pids).values())
        if (i >= 5 && held.size === 2) break
      }
      const perWorker = pids.map((pid) => [...connectionOwners(port, pids).values()].filter((owner) => owner === pid).length)
      expect(perWorker.every((count) => count > 0)).toBe(true)
      for (let i = 0; i < 7; i++) {
        const res = await fetch(`${url}/alarms`, {
          method: 'POST',
          headers: { 'content-type': 'application/json', connection: 'close' },
          body: JSON.stringify({ userId: `spread-${i}`, messages: { en: 'x' } }),
        })
        expect(res.status).toBe(201)
      }

      // Six scrapes on fresh connections: each reaches one worker, and each sees all.
      for (let i = 0; i < 6; i++) {
        const m = (await scrapeOnce(url))!
        expect(m.sum('herald_streams_open')).toBe(streams.length)
        expect(m.value('herald_stream_opens_total')).toBe(streams.length)
        expect(m.value('herald_alarms_published_total', { path: 'api' })).toBe(7)
        expect(m.value('herald_cluster_workers', { state: 'running' })).toBe(2)
        expect(m.value('herald_cluster_workers', { state: 'reporting' })).toBe(2)
        expect(m.value('herald_signals_backend', { backend: 'postgres' })).toBe(2) // two workers on it
        expect(m.value('herald_database_up')).toBe(1)
        expect(m.value('herald_db_pool_max')).toBe(20)
      }

      // A worker that cannot answer (stopped): scrapes that reach the other one report without it.
      frozen = pids[0]!
      process.kill(frozen, 'SIGSTOP')
      let partial: Scrape | undefined
      for (let i = 0; i < 10 && !partial; i++) partial = await scrapeOnce(url)
      expect(partial).toBeDefined()
      expect(partial!.value('herald_cluster_workers', { state: 'running' })).toBe(2)
      expect(partial!.value('herald_cluster_workers', { state: 'reporting' })).toBe(1)
      expect(partial!.sum('herald_streams_open')).toBe(perWorker[1]!)
      process.kill(frozen, 'SIGCONT')
      frozen = undefined

      // Every line is JSON, and a worker's lines say which worker and which instance.
      const lines = cluster.output().split('\n').filter((line) => line.startsWith('{'))
      const listening = lines.map((line) => JSON.parse(line)).filter((entry) => entry.msg.startsWith('listening on'))
      expect(listening.map((entry) => entry.worker).sort()).toEqual([1, 2])
      expect(new Set(listening.map((entry) => entry.instance)).size).toBe(2)
    } finally {
      if (frozen !== undefined) process.kill(frozen, 'SIGCONT')
      for (const stream of streams) await stream.cancel().catch(() => {})
      expect(await cluster.stop()).toBe(0)
    }
  },
  60_000,
)
