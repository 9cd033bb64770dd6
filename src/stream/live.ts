// Every open stream of this process, held by one owner: a stream joins once and leaves once, and
// the registry (whose stream is newest), the hub (whom to wake), the heartbeat ticker and shutdown
// all read from here. The signals reach the streams only through the callbacks at the bottom.
import type { SupersedeReason } from '../devices'
import { createHub, type Listener } from './hub'
import { createRegistry, type Holder } from './registry'
import { createTicker, type Tickable } from './ticker'
import { NO_METRICS, type StreamMetrics } from '../metrics'
import type { Committed } from '../store/alarms'

export type LiveStream = Holder & Listener & Tickable & {
  /** The negotiated locale: the open-streams gauge counts by it. */
  readonly locale: string
  /** Ends the stream, with `last` as its final bytes. */
  close(last?: Uint8Array): void
}

export type Live = {
  readonly size: number
  readonly heartbeatMs: number
  /** Registers a new stream: it may supersede an older one of its key at once. */
  join(stream: LiveStream): void
  /** Gives the stream its shared generation; ends it if another instance already went past it. */
  confirm(stream: LiveStream, generation: number): void
  /** Safe to call more than once. */
  leave(stream: LiveStream): void
  generationOf(key: string): number | undefined
  /** Ends every stream, each with the bytes `last()` gives it (shutdown spreads their retries). */
  closeAll(last: () => Uint8Array): void
  stop(): void
  // What the signals may do (signals/signals.ts `Local`):
  wake(userIds: Iterable<string>): void
  supersede(key: string, generation: number, reason?: SupersedeReason): boolean
  cursors(): Map<string, number>
  keys(): Iterable<string>
  /** Alarms this process just committed: their users' streams here may show them without a fetch. */
  handOff(alarms: Committed[]): void
}

export function createLive({ heartbeatMs, metrics = NO_METRICS }: { heartbeatMs: number; metrics?: Pick<StreamMetrics, 'opened' | 'closed'> }): Live {
  const all = new Set<LiveStream>()
  const registry = createRegistry()
  const hub = createHub()
  const ticker = createTicker(heartbeatMs, all)

  return {
    get size() {
      return all.size
    },
    heartbeatMs,
    join(stream) {
      all.add(stream)
      metrics.opened(stream.locale)
      hub.subscribe(stream)
      ticker.start()
      registry.claim(stream)
    },
    confirm: (stream, generation) => registry.confirm(stream, generation),
    leave(stream) {
      if (!all.delete(stream)) return
      metrics.closed(stream.locale)
      registry.release(stream)
      hub.unsubscribe(stream)
      if (all.size === 0) ticker.stop()
    },
    generationOf: (key) => registry.generationOf(key),
    closeAll(last) {
      for (const stream of [...all]) stream.close(last())
    },
    stop: () => ticker.stop(),
    wake(userIds) {
      for (const userId of userIds) hub.wakeUser(userId)
    },
    supersede: (key, generation, reason) => registry.supersede(key, generation, reason),
    cursors: () => hub.cursors(),
    keys: () => registry.keys(),
    handOff(alarms) {
      // By user, in seq order (a statement stores one user's alarms in order), with the last badge.
      const byUser = new Map<string, Committed[]>()
      for (const alarm of alarms) {
        const mine = byUser.get(alarm.userId)
        if (mine) mine.push(alarm)
        else byUser.set(alarm.userId, [alarm])
      }
      for (const [userId, mine] of byUser)
        hub.offerUser(
          userId,
          mine.map((alarm) => alarm.row),
          mine[mine.length - 1]!.badge,
        )
    },
  }
}
