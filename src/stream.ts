// One subscriber's stream. pull() waits for work (a wake-up, a heartbeat, the end), then queries:
// nothing is produced ahead of what the client reads, and an idle stream costs no query at all.
import type { AlarmRow } from './alarms'
import type { Fetcher } from './fetcher'
import type { Available } from './locale'
import type { Lease, Registry } from './registry'
import { alarmFrame, EXPIRED, HEARTBEAT, openFrame, readyFrame, SUPERSEDED } from './render'
import type { Ticker } from './ticker'
import type { Hub } from './wake'

export type StreamContext = {
  registry: Registry
  hub: Hub
  fetcher: Fetcher
  ticker: Ticker
  available: Available
  latestSeq(userId: string): Promise<number>
  defaultLocale: string
  retryMs: number
  onError(error: unknown): void
  /** Every open stream, so shutdown can end them all. */
  live: Set<LiveStream>
}

export type LiveStream = { close(last?: Uint8Array): void }

export type StreamRequest = {
  userId: string
  /** The negotiated locale of the stream. */
  locale: string
  /** The stream's locale, then the client's list: how each alarm picks its text. */
  preferred: readonly string[]
  /** Resume after this seq; without it, the stream starts after the user's newest alarm. */
  since?: number
  /** Epoch ms when the subscriber's token expires: the stream ends with `event: expired`. */
  expiresAt?: number
  signal?: AbortSignal
}

export function openAlarmStream(ctx: StreamContext, req: StreamRequest): ReadableStream<Uint8Array> {
  let controller!: ReadableStreamDefaultController<Uint8Array>
  let lease: Lease | undefined
  let unsubscribe: (() => void) | undefined
  let cursor = req.since
  let dirty = req.since !== undefined
  let failed = false
  let heartbeatDue = false
  let ended = false
  let lastWrite = performance.now()
  let waiter: (() => void) | undefined

  const listener = {
    userId: req.userId,
    // Before its first query a stream is never "behind": it is about to read anyway.
    get cursor() {
      return cursor ?? Number.MAX_SAFE_INTEGER
    },
    wake() {
      dirty = true
      resume()
    },
  }

  const live: LiveStream = { close: (last) => end(last) }

  const tickable = {
    tick(now: number) {
      if (req.expiresAt !== undefined && Date.now() >= req.expiresAt) return end(EXPIRED)
      if (failed) failed = false // a failed query is retried on the next tick, not in a hot loop
      if (now - lastWrite >= (ctx.ticker.intervalMs * 3) / 4) heartbeatDue = true
      resume()
    },
  }

  function resume() {
    const wakeUp = waiter
    waiter = undefined
    wakeUp?.()
  }

  function send(bytes: Uint8Array) {
    controller.enqueue(bytes)
    lastWrite = performance.now()
  }

  function end(last?: Uint8Array) {
    if (ended) return
    ended = true
    try {
      if (last) send(last)
      controller.close()
    } catch {
      // Already cancelled by the client: nothing left to tell it.
    }
    lease?.release()
    unsubscribe?.()
    ctx.ticker.delete(tickable)
    ctx.live.delete(live)
    req.signal?.removeEventListener('abort', onAbort)
    resume()
  }

  function onAbort() {
    end()
  }

  function sendAlarms(rows: AlarmRow[]) {
    for (const row of rows) {
      if (!row.frames) ctx.available.add(row.locales) // a direct writer's language counts once seen
      send(alarmFrame(row, req.preferred, ctx.defaultLocale))
    }
    cursor = rows[rows.length - 1]!.seq
    // A full page means there may be more: read on at the next pull, once the client has room.
    if (rows.length >= ctx.fetcher.limit) dirty = true
  }

  function fail(error: unknown) {
    failed = true
    ctx.onError(error)
  }

  /** Sends one batch of frames, or returns when the stream ends. */
  async function step() {
    while (!ended) {
      if (!failed && cursor === undefined) {
        try {
          cursor = await ctx.latestSeq(req.userId)
        } catch (error) {
          fail(error)
          continue
        }
        if (ended) return
        // Registered and positioned: whatever commits from now on reaches this stream.
        return send(readyFrame(req.userId, req.locale, lease!.generation))
      }
      if (!failed && dirty) {
        dirty = false
        let rows: AlarmRow[]
        try {
          rows = await ctx.fetcher.fetch(req.userId, cursor!)
        } catch (error) {
          dirty = true
          fail(error)
          continue
        }
        if (ended) return
        if (rows.length > 0) return sendAlarms(rows)
        continue
      }
      if (heartbeatDue) {
        heartbeatDue = false
        return send(HEARTBEAT)
      }
      await new Promise<void>((resolve) => (waiter = resolve))
    }
  }

  return new ReadableStream<Uint8Array>({
    start(c) {
      controller = c
      send(openFrame(ctx.retryMs))
      if (req.signal?.aborted) return end()
      req.signal?.addEventListener('abort', onAbort, { once: true })
      lease = ctx.registry.claim(req.userId, () => end(SUPERSEDED))
      unsubscribe = ctx.hub.subscribe(listener)
      ctx.ticker.add(tickable)
      ctx.live.add(live)
      if (cursor !== undefined) send(readyFrame(req.userId, req.locale, lease.generation))
    },
    pull: step,
    cancel() {
      end()
    },
  })
}
