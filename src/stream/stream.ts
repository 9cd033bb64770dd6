// One subscriber's stream. pull() waits for work (a wake-up, a heartbeat, the end), then queries:
// nothing is produced ahead of what the client reads, and an idle stream costs no query at all.
import { deviceKey, type SupersedeReason } from '../devices'
import type { AlarmRow, Badge, LogEntry, Page } from '../store/alarms'
import type { Available } from '../locale'
import type { Fetcher } from './fetcher'
import type { Live, LiveStream } from './live'
import type { EndReason, StreamMetrics } from '../metrics'
import { alarmFrame, badgeFrame, deletedFrame, EXPIRED, HEARTBEAT, isFirstRender, openFrame, readyFrame, stateFrame, SUPERSEDED } from './render'

export type StreamContext = {
  live: Live
  fetcher: Fetcher
  available: Available
  /** The next generation of a stream key (a user's device) from the counter every instance shares. */
  nextGeneration(key: string): Promise<number>
  /** Presence across instances: told when a device's stream is open (after `ready`) and when it ends. */
  presence: { open(stream: PresentStream): void; close(stream: PresentStream): void }
  defaultLocale: string
  retryMs: number
  onError(error: unknown): void
  /** Frames, deliveries and ends, counted (the open-streams gauge is the live owner's). */
  metrics?: Pick<StreamMetrics, 'frame' | 'delivered' | 'ended'>
}

/** A stream as presence sees it (`device` '' = the user's unnamed device). */
export type PresentStream = { userId: string; device: string; stream: string; locale: string; openedAt: number }

export type StreamRequest = {
  userId: string
  /** The device this stream belongs to; undefined for the user's unnamed device (a client naming none). */
  device?: string
  /** The negotiated locale of the stream. */
  locale: string
  /** The stream's locale, then the client's list: how each alarm picks its text. */
  preferred: readonly string[]
  /** IANA zone in which template alarms show dates and times (`?tz=`, else the default). */
  timeZone: string
  /** Resume after this seq; without it, the stream starts after the user's newest alarm. */
  since?: number
  /** Epoch ms when the subscriber's token expires: the stream ends with `event: expired`. */
  expiresAt?: number
  /** The language the client asked for first, if any: a delivery in another is a fallback (metrics). */
  requested?: string
}

export function openAlarmStream(ctx: StreamContext, req: StreamRequest): ReadableStream<Uint8Array> {
  return new ReadableStream<Uint8Array>(new AlarmStream(ctx, req))
}

/**
 * Where a stream is in its life:
 * - `new`: registered; the first pull reads its shared generation and starting seq, then sends `ready`
 * - `positioning`: that read is in flight
 * - `idle`: positioned; waits for a wake-up, a heartbeat or the end
 * - `reading`: a fetch of what came after its cursor is in flight
 * - `ended`: closed; nothing more is sent
 */
type Phase = 'new' | 'positioning' | 'idle' | 'reading' | 'ended'

/**
 * The stream's state and behaviour in one object, with its methods on the prototype: it is at once
 * the ReadableStream's source and the live owner's stream (registry holder, hub listener, ticker's
 * tickable). Tens of thousands are open at once, so an idle one holds no closures, no timer and one
 * pending promise: the pull() that waits for work.
 */
class AlarmStream implements UnderlyingDefaultSource<Uint8Array>, LiveStream {
  readonly userId: string
  readonly device: string | undefined
  readonly key: string
  generation = 0
  /** When presence was told this stream is open: it is told again when it ends. */
  private present: PresentStream | undefined
  private phase: Phase = 'new'
  /** Something may have committed after the cursor: read at the next chance. */
  private behind: boolean
  private heartbeatDue = false
  /** The last query failed: the next tick retries it, not a hot loop. */
  private resting = false
  readonly locale: string
  private readonly preferred: readonly string[]
  private readonly timeZone: string
  private readonly requested: string | undefined
  /** Epoch ms: alarms written after it count toward the delivery lag (older ones are a catch-up). */
  private readonly openedAt = Date.now()
  private readonly expiresAt: number | undefined
  private controller!: ReadableStreamDefaultController<Uint8Array>
  private position: number | undefined
  /** The badge this client was last told (in `ready`, or a `badge` event): a new one is sent only when it differs. */
  private unread = 0
  private unseen = 0
  private lastWrite = performance.now()
  /** Resolves the pending pull(): set while the client has room and nothing has been sent yet. */
  private pulled: (() => void) | undefined

  constructor(
    private readonly ctx: StreamContext,
    req: StreamRequest,
  ) {
    this.userId = req.userId
    this.device = req.device
    this.key = deviceKey(req.userId, req.device)
    this.locale = req.locale
    this.preferred = req.preferred
    this.timeZone = req.timeZone
    this.requested = req.requested
    this.expiresAt = req.expiresAt
    this.position = req.since
    this.behind = req.since !== undefined
  }

  /** A method, not a field read: TypeScript would narrow the phase across the awaits that change it. */
  private get ended(): boolean {
    return this.phase === 'ended'
  }

  /** Before it is positioned a stream is never "behind": it is about to read anyway. */
  get cursor(): number {
    return this.position ?? Number.MAX_SAFE_INTEGER
  }

  start(controller: ReadableStreamDefaultController<Uint8Array>) {
    this.controller = controller
    this.send(openFrame(this.ctx.retryMs))
    this.ctx.live.join(this)
  }

  /** Waits for work (a wake-up, a heartbeat, the end) and resolves once something was sent. */
  pull(): Promise<void> {
    return new Promise<void>((resolve) => {
      this.pulled = resolve
      this.poke()
    })
  }

  cancel() {
    this.end('closed')
  }

  wake() {
    this.behind = true
    this.poke()
  }

  /**
   * Alarms this process just committed for the user: sent now when nothing can be missed or
   * repeated — idle (no fetch under way that could bring them too), the client has room, not
   * resting after a failure, and the first new one comes right after the cursor (a user's seqs have
   * no gaps: nothing else committed between). Otherwise they are left to the wake-up every commit
   * sends anyway; after them, that wake-up's fetch reads from the new cursor.
   */
  offer(rows: AlarmRow[], badge: Badge) {
    if (this.phase !== 'idle' || !this.pulled || this.resting) return
    const position = this.position!
    const fresh = rows.filter((row) => row.seq > position)
    if (fresh.length === 0 || !fresh.every((row, i) => row.seq === position + 1 + i)) return
    if (this.sendPage({ entries: fresh, badge })) this.settle()
  }

  tick(now: number) {
    if (this.expiresAt !== undefined && Date.now() >= this.expiresAt) return this.end('expired', EXPIRED)
    this.resting = false
    if (now - this.lastWrite >= (this.ctx.live.heartbeatMs * 3) / 4) this.heartbeatDue = true
    this.poke()
  }

  close(last?: Uint8Array) {
    this.end('shutdown', last)
  }

  superseded(reason: SupersedeReason) {
    this.end('superseded', SUPERSEDED[reason])
  }

  /** Does the next piece of work if the client has asked for more (a pull is pending). */
  private poke() {
    if (!this.pulled) return
    switch (this.phase) {
      case 'ended':
        return this.settle()
      case 'new':
        if (!this.resting) void this.locate()
        return
      case 'idle':
        if (this.behind && !this.resting) return void this.read()
        if (this.heartbeatDue) {
          this.heartbeatDue = false
          this.send(HEARTBEAT)
          this.ctx.metrics?.frame('heartbeat')
          this.settle()
        }
    }
  }

  /** Reads the stream's shared generation and its starting seq, then announces `ready`. */
  private async locate() {
    const { ctx } = this
    this.phase = 'positioning'
    try {
      const [generation, position] = await Promise.all([ctx.nextGeneration(this.key), ctx.fetcher.position(this.userId)])
      if (this.ended) return
      ctx.live.confirm(this, generation) // ends this stream if another instance went past it
      if (this.ended) return
      this.position ??= position.seq
      this.phase = 'idle'
      this.told(position.badge)
      // Registered and positioned: whatever commits from now on reaches this stream.
      this.send(readyFrame(this.userId, this.device ?? null, this.locale, generation, this.position, position.badge))
      ctx.metrics?.frame('ready')
      this.present = { userId: this.userId, device: this.device ?? '', stream: `${generation}`, locale: this.locale, openedAt: this.openedAt }
      ctx.presence.open(this.present)
      this.settle()
    } catch (error) {
      this.fail('new', error)
    }
  }

  /** Fetches what came after the cursor and sends it. */
  private async read() {
    const { ctx } = this
    this.phase = 'reading'
    this.behind = false
    let page: Page
    try {
      page = await ctx.fetcher.fetch(this.userId, this.position!)
    } catch (error) {
      this.behind = true
      return this.fail('idle', error)
    }
    if (this.ended) return this.poke()
    this.phase = 'idle'
    if (this.sendPage(page)) this.settle()
    // Nothing was sent, or a wake-up came while the fetch ran: either way, look again.
    this.poke()
  }

  private fail(back: 'new' | 'idle', error: unknown) {
    if (!this.ended) this.phase = back
    this.resting = true
    this.ctx.onError(error)
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

  private end(reason: EndReason, last?: Uint8Array) {
    if (this.ended) return
    this.phase = 'ended'
    this.ctx.metrics?.ended(reason)
    try {
      if (last) {
        this.send(last)
        // The last frame is named by why the stream ends: superseded, expired, shutdown.
        this.ctx.metrics?.frame(reason)
      }
      this.controller.close()
    } catch {
      // Already cancelled by the client: nothing left to tell it.
    }
    this.ctx.live.leave(this)
    if (this.present) this.ctx.presence.close(this.present)
    this.poke()
  }

  /** Sends the page's entries and, when it is news to this client, its badge; true if it sent any. */
  private sendPage({ entries, badge }: Page): boolean {
    for (const entry of entries) this.sendEntry(entry)
    if (entries.length > 0) this.position = entries[entries.length - 1]!.seq
    // The badge read in the same snapshot as these entries. It can move with no entry: the sweep
    // deleting an expired alarm that was unread changes it and adds nothing to the log.
    const moved = badge.unread !== this.unread || badge.unseen !== this.unseen
    if (moved) {
      this.told(badge)
      this.send(badgeFrame(badge))
      this.ctx.metrics?.frame('badge')
    }
    // A full page means there may be more: read on at the next pull, once the client has room.
    if (entries.length >= this.ctx.fetcher.limit) this.behind = true
    return entries.length > 0 || moved
  }

  private sendEntry(entry: LogEntry) {
    const { ctx } = this
    if (entry.kind === 'state') {
      this.send(stateFrame(entry))
      return ctx.metrics?.frame('state')
    }
    if (entry.kind === 'deleted') {
      this.send(deletedFrame(entry))
      return ctx.metrics?.frame('deleted')
    }
    const first = isFirstRender(entry)
    if (first) ctx.available.add(entry.locales) // a direct writer's language counts once seen
    const bytes = alarmFrame(entry, this.preferred, ctx.defaultLocale, this.timeZone)
    if (bytes) {
      this.send(bytes)
      ctx.metrics?.delivered(entry, this.preferred, this.requested, this.openedAt)
    }
    // Skipped, not retried: the cursor moves past it, so one bad row never blocks the rows after it.
    else if (first)
      ctx.onError(
        Object.assign(new Error(`alarm ${entry.id} (seq ${entry.seq}) of user ${JSON.stringify(this.userId)} has no text in any language; skipped`), {
          userId: this.userId, // a field of its own on a JSON log line
        }),
      )
  }

  private told({ unread, unseen }: Badge) {
    this.unread = unread
    this.unseen = unseen
  }
}
