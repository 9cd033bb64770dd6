// One subscriber's stream. pull() waits for work (a wake-up, a heartbeat, the end), then queries:
// nothing is produced ahead of what the client reads, and an idle stream costs no query at all.
import type { AlarmRow } from './alarms'
import type { Fetcher } from './fetcher'
import type { Available } from './locale'
import type { Holder, Registry } from './registry'
import { alarmFrame, EXPIRED, HEARTBEAT, openFrame, readyFrame, SUPERSEDED } from './render'
import type { Tickable, Ticker } from './ticker'
import type { Hub, Listener } from './wake'

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
}

export function openAlarmStream(ctx: StreamContext, req: StreamRequest): ReadableStream<Uint8Array> {
  return new ReadableStream<Uint8Array>(new AlarmStream(ctx, req))
}

/**
 * The stream's state and behaviour in one object, with its methods on the prototype: it is at once
 * the ReadableStream's source, the hub's listener, the ticker's tickable and a live stream for
 * shutdown. Tens of thousands are open at once, so no per-stream closures beyond what waiting needs.
 */
class AlarmStream implements UnderlyingDefaultSource<Uint8Array>, Holder, Listener, Tickable, LiveStream {
  readonly userId: string
  private controller!: ReadableStreamDefaultController<Uint8Array>
  private generation = 0
  private position: number | undefined
  private dirty: boolean
  private failed = false
  private heartbeatDue = false
  private ended = false
  private lastWrite = performance.now()
  private waiter: (() => void) | undefined

  constructor(
    private readonly ctx: StreamContext,
    private readonly req: StreamRequest,
  ) {
    this.userId = req.userId
    this.position = req.since
    this.dirty = req.since !== undefined
  }

  /** Before its first query a stream is never "behind": it is about to read anyway. */
  get cursor(): number {
    return this.position ?? Number.MAX_SAFE_INTEGER
  }

  start(controller: ReadableStreamDefaultController<Uint8Array>) {
    const { ctx, req } = this
    this.controller = controller
    this.send(openFrame(ctx.retryMs))
    this.generation = ctx.registry.claim(this)
    ctx.hub.subscribe(this)
    ctx.ticker.add(this)
    ctx.live.add(this)
    if (this.position !== undefined) this.send(readyFrame(req.userId, req.locale, this.generation, this.position))
  }

  pull(): Promise<void> {
    return this.step()
  }

  cancel() {
    this.end()
  }

  wake() {
    this.dirty = true
    this.resume()
  }

  tick(now: number) {
    if (this.req.expiresAt !== undefined && Date.now() >= this.req.expiresAt) return this.end(EXPIRED)
    this.failed = false // a failed query is retried on the next tick, not in a hot loop
    if (now - this.lastWrite >= (this.ctx.ticker.intervalMs * 3) / 4) this.heartbeatDue = true
    this.resume()
  }

  close(last?: Uint8Array) {
    this.end(last)
  }

  superseded() {
    this.end(SUPERSEDED)
  }

  private resume() {
    const wakeUp = this.waiter
    this.waiter = undefined
    wakeUp?.()
  }

  private send(bytes: Uint8Array) {
    this.controller.enqueue(bytes)
    this.lastWrite = performance.now()
  }

  private end(last?: Uint8Array) {
    if (this.ended) return
    this.ended = true
    try {
      if (last) this.send(last)
      this.controller.close()
    } catch {
      // Already cancelled by the client: nothing left to tell it.
    }
    this.ctx.registry.release(this)
    this.ctx.hub.unsubscribe(this)
    this.ctx.ticker.delete(this)
    this.ctx.live.delete(this)
    this.resume()
  }

  private sendAlarms(rows: AlarmRow[]) {
    const { ctx, req } = this
    for (const row of rows) {
      if (!row.frames) ctx.available.add(row.locales) // a direct writer's language counts once seen
      this.send(alarmFrame(row, req.preferred, ctx.defaultLocale))
    }
    this.position = rows[rows.length - 1]!.seq
    // A full page means there may be more: read on at the next pull, once the client has room.
    if (rows.length >= ctx.fetcher.limit) this.dirty = true
  }

  private fail(error: unknown) {
    this.failed = true
    this.ctx.onError(error)
  }

  /** Sends one batch of frames, or returns when the stream ends. */
  private async step(): Promise<void> {
    const { ctx, req } = this
    while (!this.ended) {
      if (!this.failed && this.position === undefined) {
        let position: number
        try {
          position = await ctx.latestSeq(req.userId)
        } catch (error) {
          this.fail(error)
          continue
        }
        if (this.ended) return
        this.position = position
        // Registered and positioned: whatever commits from now on reaches this stream.
        return this.send(readyFrame(req.userId, req.locale, this.generation, position))
      }
      if (!this.failed && this.dirty) {
        this.dirty = false
        let rows: AlarmRow[]
        try {
          rows = await ctx.fetcher.fetch(req.userId, this.position!)
        } catch (error) {
          this.dirty = true
          this.fail(error)
          continue
        }
        if (this.ended) return
        if (rows.length > 0) return this.sendAlarms(rows)
        continue
      }
      if (this.heartbeatDue) {
        this.heartbeatDue = false
        return this.send(HEARTBEAT)
      }
      await new Promise<void>((resolve) => (this.waiter = resolve))
    }
  }
}
