// Coalesces the queries of streams: every stream that asks within one turn of the event loop shares
// one query (up to `maxBatch` streams each), instead of one query per stream. That is what keeps a
// burst, a broadcast or a reconnect storm at a handful of queries.
import { createBatcher, type BatchStats } from '../batcher'
import type { AlarmReads, AlarmRow, FetchRequest } from '../store/alarms'

export type Fetcher = {
  /** Alarms of `userId` after `after`, oldest first, at most `limit`. */
  fetch(userId: string, after: number): Promise<AlarmRow[]>
  /** The user's newest seq: where a stream that does not resume starts. */
  latest(userId: string): Promise<number>
  readonly limit: number
  /** Queries run so far, and stream requests they served: how tests and the benchmark see the batching. */
  readonly stats: BatchStats
}

export type FetcherOptions = {
  limit?: number
  maxBatch?: number
  /** Batches in flight at once per kind; the rest wait their turn, so a storm cannot drain the pool. */
  maxInFlight?: number
  /** Told the size of every query's batch, by query. */
  onBatch?: (query: 'alarms' | 'latest', size: number) => void
}

export function createFetcher(reads: AlarmReads, options: FetcherOptions = {}): Fetcher {
  const { limit = 100, maxBatch = 1000, maxInFlight = 4, onBatch } = options
  const stats: BatchStats = { queries: 0, requests: 0 }
  const alarms = createBatcher<FetchRequest, AlarmRow[]>((batch) => reads.fetchAfter(batch, limit), {
    maxBatch,
    maxInFlight,
    stats,
    onBatch: onBatch && ((size) => onBatch('alarms', size)),
  })
  const positions = createBatcher<string, number>(
    async (users) => {
      const latest = await reads.latestSeqs([...new Set(users)])
      return users.map((user) => latest.get(user) ?? 0)
    },
    { maxBatch, maxInFlight, stats, onBatch: onBatch && ((size) => onBatch('latest', size)) },
  )
  return {
    limit,
    stats,
    fetch: (userId, after) => alarms.submit({ userId, after }),
    latest: (userId) => positions.submit(userId),
  }
}
