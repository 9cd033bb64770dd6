// Coalesces the queries of streams: every stream that asks within one turn of the event loop shares
// one query (up to `maxBatch` streams each), instead of one query per stream. That is what keeps a
// burst, a broadcast or a reconnect storm at a handful of queries.
import { createBatcher, type BatchStats } from '../batcher'
import type { FetchRequest, LogReads, Page, Position } from '../store/alarms'

export type Fetcher = {
  /** The user's log after `after` (alarms and state changes), oldest first, at most `limit`, with the badge. */
  fetch(userId: string, after: number): Promise<Page>
  /** Where the user's log stands: where a stream that does not resume starts, and the badge. */
  position(userId: string): Promise<Position>
  readonly limit: number
  /** Queries run so far, and stream requests they served: how tests and the benchmark see the batching. */
  readonly stats: BatchStats
}

export type FetcherOptions = {
  limit?: number
  maxBatch?: number
  /** Batches in flight at once per kind; the rest wait their turn, so a storm cannot drain the pool. */
  maxInFlight?: number
}

export function createFetcher(reads: LogReads, options: FetcherOptions = {}): Fetcher {
  const { limit = 100, maxBatch = 1000, maxInFlight = 4 } = options
  const stats: BatchStats = { queries: 0, requests: 0 }
  const pages = createBatcher<FetchRequest, Page>((batch) => reads.fetchAfter(batch, limit), {
    maxBatch,
    maxInFlight,
    stats,
  })
  const positions = createBatcher<string, Position>(
    async (users) => {
      const found = await reads.positions([...new Set(users)])
      return users.map((user) => found.get(user)!)
    },
    { maxBatch, maxInFlight, stats },
  )
  return {
    limit,
    stats,
    fetch: (userId, after) => pages.submit({ userId, after }),
    position: (userId) => positions.submit(userId),
  }
}
