// Coalesces the queries of woken streams: every stream that asks within one turn of the event loop
// shares one query (up to `maxBatch` streams each), instead of one query per stream.
import { fetchAfter, type AlarmRow, type FetchRequest } from './alarms'
import type { Sql } from './db'

export type Fetcher = {
  /** Alarms of `userId` after `after`, oldest first, at most `limit`. */
  fetch(userId: string, after: number): Promise<AlarmRow[]>
  readonly limit: number
  /** Queries run so far, and streams they served: how tests and the benchmark see the batching. */
  readonly stats: { queries: number; requests: number }
}

type Pending = FetchRequest & { resolve(rows: AlarmRow[]): void; reject(error: unknown): void }

export type FetcherOptions = {
  limit?: number
  maxBatch?: number
  /** Batches in flight at once; the rest wait their turn, so a storm cannot drain the pool. */
  maxInFlight?: number
  query?: (requests: FetchRequest[], limit: number) => Promise<AlarmRow[][]>
}

export function createFetcher(sql: Sql, options: FetcherOptions = {}): Fetcher {
  const { limit = 100, maxBatch = 1000, maxInFlight = 4 } = options
  const query = options.query ?? ((requests, n) => fetchAfter(sql, requests, n))
  let queue: Pending[] = []
  let scheduled = false
  let inFlight = 0
  const stats = { queries: 0, requests: 0 }

  function schedule() {
    if (scheduled || queue.length === 0 || inFlight >= maxInFlight) return
    scheduled = true
    // setImmediate, not a microtask: streams woken by one notification batch all run first.
    setImmediate(flush)
  }

  function flush() {
    scheduled = false
    while (queue.length > 0 && inFlight < maxInFlight) {
      const batch = queue.length <= maxBatch ? queue : queue.slice(0, maxBatch)
      queue = queue.length <= maxBatch ? [] : queue.slice(maxBatch)
      run(batch)
    }
  }

  async function run(batch: Pending[]) {
    inFlight++
    stats.queries++
    stats.requests += batch.length
    try {
      const results = await query(batch, limit)
      batch.forEach((pending, i) => pending.resolve(results[i]!))
    } catch (error) {
      for (const pending of batch) pending.reject(error)
    } finally {
      inFlight--
      schedule()
    }
  }

  return {
    limit,
    stats,
    fetch(userId, after) {
      return new Promise((resolve, reject) => {
        queue.push({ userId, after, resolve, reject })
        schedule()
      })
    },
  }
}
