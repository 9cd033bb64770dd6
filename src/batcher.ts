// Coalesces requests made within one turn of the event loop into one call (up to `maxBatch` each),
// with at most `maxInFlight` calls running: streams share fetch queries, publishes share commits.

export type BatchStats = { queries: number; requests: number }

type Pending<Req, Res> = { request: Req; resolve(result: Res): void; reject(error: unknown): void }

export type BatcherOptions = {
  maxBatch: number
  maxInFlight: number
  stats: BatchStats
  /** Told the size of every batch it runs (the metrics' batch-size histograms). */
  onBatch?: (size: number) => void
}

/** Runs `run` once for every request submitted in the same turn; `run` answers in request order. */
export function createBatcher<Req, Res>(
  run: (batch: Req[]) => Promise<Res[]>,
  { maxBatch, maxInFlight, stats, onBatch }: BatcherOptions,
) {
  let queue: Pending<Req, Res>[] = []
  let scheduled = false
  let inFlight = 0

  function schedule() {
    if (scheduled || queue.length === 0 || inFlight >= maxInFlight) return
    scheduled = true
    // setImmediate, not a microtask: every stream woken by one notification asks first.
    setImmediate(flush)
  }

  function flush() {
    scheduled = false
    while (queue.length > 0 && inFlight < maxInFlight) {
      const batch = queue.length <= maxBatch ? queue : queue.slice(0, maxBatch)
      queue = queue.length <= maxBatch ? [] : queue.slice(maxBatch)
      execute(batch)
    }
  }

  async function execute(batch: Pending<Req, Res>[]) {
    inFlight++
    stats.queries++
    stats.requests += batch.length
    onBatch?.(batch.length)
    try {
      const results = await run(batch.map((pending) => pending.request))
      batch.forEach((pending, i) => pending.resolve(results[i]!))
    } catch (error) {
      for (const pending of batch) pending.reject(error)
    } finally {
      inFlight--
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
