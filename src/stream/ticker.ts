// One timer for every stream's heartbeat, instead of a timer per stream; it runs only while
// there are streams, so an idle process has no timer at all.

export type Tickable = { tick(now: number): void }

export type Ticker = {
  readonly intervalMs: number
  /** Starts the timer if it is not running. */
  start(): void
  stop(): void
}

/**
 * Ticks every quarter interval. A stream sends a heartbeat on the first tick after it has been
 * quiet for three quarters of the interval: an idle stream beats about once per interval, and no
 * quiet gap lasts longer than one.
 */
export function createTicker(intervalMs: number, streams: Iterable<Tickable>): Ticker {
  let timer: ReturnType<typeof setInterval> | undefined

  function tick() {
    const now = performance.now()
    for (const stream of streams) stream.tick(now)
  }

  return {
    intervalMs,
    start() {
      if (timer) return
      timer = setInterval(tick, Math.max(2, Math.floor(intervalMs / 4)))
      timer.unref?.()
    },
    stop() {
      if (timer) clearInterval(timer)
      timer = undefined
    },
  }
}
