// One timer for every stream's heartbeat, instead of a timer per stream.

export type Tickable = { tick(now: number): void }

export type Ticker = {
  add(stream: Tickable): void
  delete(stream: Tickable): void
  readonly intervalMs: number
  stop(): void
}

/**
 * Ticks every quarter interval. A stream sends a heartbeat on the first tick after it has been
 * quiet for three quarters of the interval: an idle stream beats about once per interval, and no
 * quiet gap lasts longer than one.
 */
export function createTicker(intervalMs: number): Ticker {
  const streams = new Set<Tickable>()
  let timer: ReturnType<typeof setInterval> | undefined

  function tick() {
    const now = performance.now()
    for (const stream of streams) stream.tick(now)
  }

  return {
    intervalMs,
    add(stream) {
      streams.add(stream)
      if (!timer) {
        timer = setInterval(tick, Math.max(2, Math.floor(intervalMs / 4)))
        timer.unref?.()
      }
    },
    delete(stream) {
      streams.delete(stream)
      if (streams.size === 0 && timer) {
        clearInterval(timer)
        timer = undefined
      }
    },
    stop() {
      streams.clear()
      if (timer) clearInterval(timer)
      timer = undefined
    },
  }
}
