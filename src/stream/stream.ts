// One subscriber's stream. pull() waits for work (a wake-up, a heartbeat, the end), then queries:
// nothing is produced ahead of what the client reads, and an idle stream costs no query at all.
import type { AlarmRow } from '../store/alarms'
import type { Fetcher } from './fetcher'
import type { Available } from '../locale'
import type { Holder, Registry } from './registry'
import { alarmFrame, EXPIRED, HEARTBEAT, openFrame, readyFrame, SUPERSEDED } from './render'
import type { Tickable, Ticker } from './ticker'
import type { Hub, Listener } from '../signals/wake'

export type StreamContext = {
  registry: Registry
  hub: Hub
  fetcher: Fetcher
  ticker: Ticker
  available: Available
  latestSeq(userId: string): Promise<number>
  /** The user's next generation from the counter every instance shares. */
  nextGeneration(userId: string): Promise<number>
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
 * the ReadableStream's source, the hub's listener, the ticker's tickable, the registry's holder and
 * a live stream for shutdown. Tens of thousands are open at once, so an idle one holds no closures,
 * no timer and one pending promise: the pull() that waits for work.
 */
class AlarmStream implements UnderlyingDefaultSource<Uint8Array>, Holder, Listener, Tickable, LiveStream {
  readonly userId: string
  generation = 0
  private readonly locale: string
  private readonly preferred: readonly string[]
  private readonly expiresAt: number | undefined
  private controller!: ReadableStreamDefaultController<Uint8Array>
  private position: number | undefined
  private dirty: boolean
  private failed = false
  private heartbeatDue = false
  private ended = false
  private querying = false
  /** `ready` has been sent: the stream holds its shared generation and its starting position. */
  private announced = false
  private lastWrite = performance.now()
  /** Resolves the pending pull(): set while the client has room and nothing has been sent yet. */
  private pulled: (() => void) | undefined

  constructor(
    private readonly ctx: StreamContext,
    req: StreamRequest,
  ) {
    this.userId = req.userId
    this.locale = req.locale
    this.preferred = req.preferred
    this.expiresAt = req.expiresAt
    this.position = req.since
    this.dirty = req.since !== undefined
  }

  /** Before its first query a stream is never "behind": it is about to read anyway. */
  get cursor(): number {
    return this.position ?? Number.MAX_SAFE_INTEGER
  }

  start(controller: ReadableStreamDefaultController<Uint8Array>) {
    const { ctx } = this
    this.controller = controller
    this.send(openFrame(ctx.retryMs))
    ctx.registry.claim(this)
    ctx.hub.subscribe(this)
    ctx.ticker.add(this)
    ctx.live.add(this)
  }

  /** Waits for work (a wake-up, a heartbeat, the end) and resolves once something was sent. */
  pull(): Promise<void> {
    return new Promise<void>((resolve) => {
      this.pulled = resolve
      this.poke()
    })
  }

  cancel() {
    this.end()
  }

  wake() {
    this.dirty = true
    this.poke()
  }

  tick(now: number) {
    if (this.expiresAt !== undefined && Date.now() >= this.expiresAt) return this.end(EXPIRED)
    this.failed = false // a failed query is retried on the next tick, not in a hot loop
    if (now - this.lastWrite >= (this.ctx.ticker.intervalMs * 3) / 4) this.heartbeatDue = true
    this.poke()
  }

  close(last?: Uint8Array) {
    this.end(last)
  }

  superseded() {
    this.end(SUPERSEDED)
  }

  /** Does the next piece of work if the client has asked for more (a pull is pending). */
  private poke() {
    if (!this.pulled || this.querying) return
    if (this.ended) return this.settle()
    if (!this.failed && (!this.announced || this.dirty)) return void this.query()
    if (this.heartbeatDue) {
      this.heartbeatDue = false
      this.send(HEARTBEAT)
      this.settle()
    }
  }

  /** Positions the stream (then `ready`), or fetches what came after its cursor. */
  private async query() {
    const { ctx } = this
    this.querying = true
    try {
      if (!this.announced) {
        const [generation, position] = await Promise.all([
          ctx.nextGeneration(this.userId),
          this.position ?? ctx.latestSeq(this.userId),
        ])
        if (this.ended) return
        ctx.registry.confirm(this, generation) // ends this stream if another instance went past it
        if (this.ended) return
        this.announced = true
        this.position = position
        // Registered and positioned: whatever commits from now on reaches this stream.
        this.send(readyFrame(this.userId, this.locale, generation, position))
        return this.settle()
      }
      this.dirty = false
      let rows: AlarmRow[]
      try {
        rows = await ctx.fetcher.fetch(this.userId, this.position!)
      } catch (error) {
        this.dirty = true
        throw error
      }
      if (this.ended || rows.length === 0) return
      this.sendAlarms(rows)
      return this.settle()
    } catch (error) {
      this.failed = true
      ctx.onError(error)
    } finally {
      this.querying = false
    }
    // Nothing was sent: the stream ended, or a wake-up came while the query ran.
    this.poke()
  }

  private settle() {
    const resolve = this.pulled
    this.pulled = undefined
    resolve?.()
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
    this.poke()
  }

  private sendAlarms(rows: AlarmRow[]) {
    const { ctx } = this
    for (const row of rows) {
      if (!row.frames) ctx.available.add(row.locales) // a direct writer's language counts once seen
      this.send(alarmFrame(row, this.preferred, ctx.defaultLocale))
    }
    this.position = rows[rows.length - 1]!.seq
    // A full page means there may be more: read on at the next pull, once the client has room.
    if (rows.length >= ctx.fetcher.limit) this.dirty = true
  }
}
