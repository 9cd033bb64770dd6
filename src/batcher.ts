// Coalesces requests made within one turn of the event loop into one call (up to `maxBatch` each),
// with at most `maxInFlight` calls running: streams share fetch queries, publishes share commits.

export type BatchStats = { queries: number; requests: number }

/** How long after its last call an eager batcher counts as quiet: longer than a burst's gaps. */
const QUIET_MS = 2

type Pending<Req, Res> = { request: Req; resolve(result: Res): void; reject(error: unknown): void }

export type BatcherOptions<Req> = {
  maxBatch: number
  maxInFlight: number
  stats: BatchStats
  /**
   * Requests of one key never run in two calls at once: while a call holds a key, the key's later
   * requests wait (in order) for the next call. Publishes use the user: two batches of this
   * process never contend for one user's row in the database.
   */
  keyOf?: (request: Req) => string
  /** Told the size of every batch it runs (the metrics' batch-size histograms). */
  onBatch?: (size: number) => void
  /**
   * When the batcher is quiet — no call in flight, and none ended in the last `QUIET_MS` — run at
   * the end of this turn's microtasks instead of the next turn: nobody is about to join. Busy, it
   * waits a turn as usual, so requests arriving together still share a call. For publishes (a lone
   * one commits at once); not for fetches, where every stream woken by one notification must ask
   * before the query goes.
   */
  eager?: boolean
}

/** Runs `run` once for every request submitted in the same turn; `run` answers in request order. */
export function createBatcher<Req, Res>(
  run: (batch: Req[]) => Promise<Res[]>,
  { maxBatch, maxInFlight, stats, keyOf, onBatch, eager = false }: BatcherOptions<Req>,
) {
  let queue: Pending<Req, Res>[] = []
  let scheduled = false
  let inFlight = 0
  let lastEnded = -Infinity
  /** Keys held by calls in flight (one call at most each). */
  const held = new Set<string>()

  function schedule() {
    if (scheduled || queue.length === 0 || inFlight >= maxInFlight) return
    scheduled = true
    if (eager && inFlight === 0 && performance.now() - lastEnded > QUIET_MS) return queueMicrotask(flush)
    // setImmediate, not a microtask: every stream woken by one notification asks first.
    setImmediate(flush)
  }

  function flush() {
    scheduled = false
    while (queue.length > 0 && inFlight < maxInFlight) {
      const batch = keyOf ? takeFree(keyOf) : take()
      if (batch.length === 0) return // every queued key is held: the calls holding them schedule again
      execute(batch)
    }
  }

  function take(): Pending<Req, Res>[] {
    const batch = queue.length <= maxBatch ? queue : queue.slice(0, maxBatch)
    queue = queue.length <= maxBatch ? [] : queue.slice(maxBatch)
    return batch
  }

  /** The first `maxBatch` requests whose key no call holds; the rest keep their places. */
  function takeFree(key: (request: Req) => string): Pending<Req, Res>[] {
    const batch: Pending<Req, Res>[] = []
    const rest: Pending<Req, Res>[] = []
    for (const pending of queue) {
      if (batch.length < maxBatch && !held.has(key(pending.request))) batch.push(pending)
      else rest.push(pending)
    }
    queue = rest
    return batch
  }

  async function execute(batch: Pending<Req, Res>[]) {
    inFlight++
    stats.queries++
    stats.requests += batch.length
    onBatch?.(batch.length)
    const keys = keyOf ? [...new Set(batch.map((pending) => keyOf(pending.request)))] : []
    for (const key of keys) held.add(key)
    try {
      const results = await run(batch.map((pending) => pending.request))
      batch.forEach((pending, i) => pending.resolve(results[i]!))
    } catch (error) {
      for (const pending of batch) pending.reject(error)
    } finally {
      for (const key of keys) held.delete(key)
      inFlight--
      lastEnded = performance.now()
      schedule()
    }
  }

  return {
    submit(request: Req): Promise<Res> {
      return new Promise((resolve, reject) => {
        queue.push({ request, resolve, reject })
        schedule()
      })
    },
  }
}
