// Coalesces the queries of streams: every stream that asks within one turn of the event loop shares
// one query (up to `maxBatch` streams each), instead of one query per stream. That is what keeps a
// burst, a broadcast or a reconnect storm at a handful of queries.
import { createBatcher, type BatchStats } from '../batcher'
import type { AlarmRow, FetchRequest, LogReads, Page, Position } from '../store/alarms'

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
  /**
   * Gives the rows of template alarms their current template (the catalogue's resolve), before any
   * stream renders them: one read for the keys a batch needs and the process does not keep.
   */
  resolve?(pages: AlarmRow[][]): Promise<void> | undefined
  /** Told the size of every query's batch, by query. */
  onBatch?: (query: 'alarms' | 'latest', size: number) => void
}

export function createFetcher(reads: LogReads, options: FetcherOptions = {}): Fetcher {
  const { limit = 100, maxBatch = 1000, maxInFlight = 4, resolve, onBatch } = options
  const stats: BatchStats = { queries: 0, requests: 0 }
  async function read(batch: FetchRequest[]): Promise<Page[]> {
    const pages = await reads.fetchAfter(batch, limit)
    if (resolve) await resolve(pages.map((page) => page.entries.filter((entry): entry is AlarmRow => entry.kind === 'alarm')))
    return pages
  }
  const pages = createBatcher<FetchRequest, Page>(read, {
    maxBatch,
    maxInFlight,
    stats,
    onBatch: onBatch && ((size) => onBatch('alarms', size)),
  })
  const positions = createBatcher<string, Position>(
    async (users) => {
      const found = await reads.positions([...new Set(users)])
      return users.map((user) => found.get(user)!)
    },
    { maxBatch, maxInFlight, stats, onBatch: onBatch && ((size) => onBatch('latest', size)) },
  )
  return {
    limit,
    stats,
    fetch: (userId, after) => pages.submit({ userId, after }),
    position: (userId) => positions.submit(userId),
  }
}
