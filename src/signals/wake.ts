// Wake-ups: "user U has new alarms". Streams subscribe to the hub; transports (Postgres
// LISTEN/NOTIFY here; others later) tell the hub which users to wake. Streams never know which
// transport is behind it.
import { latestSeqs } from '../store/alarms'
import type { Sql } from '../store/db'

/** What a stream shows the hub: whose it is, how far it has read, and how to wake it. */
export type Listener = {
  readonly userId: string
  readonly cursor: number
  wake(): void
}

export type Hub = {
  subscribe(listener: Listener): void
  /** Safe to call more than once, or for a listener never subscribed. */
  unsubscribe(listener: Listener): void
  wakeUser(userId: string): void
  /** Every listened-to user, with the lowest cursor among its listeners. */
  cursors(): Map<string, number>
  readonly size: number
}

export function createHub(): Hub {
  // Almost always one listener per user; a Set only while an older stream is still ending.
  const byUser = new Map<string, Listener | Set<Listener>>()
  let size = 0

  return {
    get size() {
      return size
    },
    subscribe(listener) {
      const existing = byUser.get(listener.userId)
      if (existing === listener || (existing instanceof Set && existing.has(listener))) return
      if (!existing) byUser.set(listener.userId, listener)
      else if (existing instanceof Set) existing.add(listener)
      else byUser.set(listener.userId, new Set([existing, listener]))
      size++
    },
    unsubscribe(listener) {
      const current = byUser.get(listener.userId)
      if (current === listener) byUser.delete(listener.userId)
      else if (current instanceof Set && current.delete(listener)) {
        if (current.size === 1) byUser.set(listener.userId, current.values().next().value!)
      } else return
      size--
    },
    wakeUser(userId) {
      const entry = byUser.get(userId)
      if (!entry) return
      if (entry instanceof Set) for (const listener of entry) listener.wake()
      else entry.wake()
    },
    cursors() {
      const out = new Map<string, number>()
      for (const [userId, entry] of byUser) {
        const cursors = entry instanceof Set ? [...entry].map((l) => l.cursor) : [entry.cursor]
        out.set(userId, Math.min(...cursors))
      }
      return out
    },
  }
}

export type Transport = {
  /** Resolves once wake-ups flow. */
  start(): Promise<void>
  /** Finds streams that missed a wake-up and wakes them: one query, not one per stream. */
  catchUp(): Promise<number>
  stop(): Promise<void>
}

export type PgTransportOptions = {
  channel: string
  /** How often the safety net looks for missed wake-ups; 0 turns it off. */
  safetyPollMs: number
  onError?: (error: unknown) => void
}

const CATCH_UP_CHUNK = 5000

/**
 * One LISTEN connection per process. postgres.js reconnects it by itself and calls `onlisten` each
 * time, which is when notifications may have been missed: catch up then, and on a slow timer.
 */
export function createPgTransport(sql: Sql, hub: Hub, options: PgTransportOptions): Transport {
  let unlisten: (() => Promise<void>) | undefined
  let timer: ReturnType<typeof setInterval> | undefined
  let listens = 0
  const onError = options.onError ?? ((error) => console.error('herald: catch-up failed:', error))

  async function catchUp(): Promise<number> {
    const cursors = hub.cursors()
    const users = [...cursors.keys()]
    let woken = 0
    for (let i = 0; i < users.length; i += CATCH_UP_CHUNK) {
      const latest = await latestSeqs(sql, users.slice(i, i + CATCH_UP_CHUNK))
      for (const [userId, seq] of latest) {
        if (seq > (cursors.get(userId) ?? Infinity)) {
          hub.wakeUser(userId)
          woken++
        }
      }
    }
    return woken
  }

  function safeCatchUp() {
    catchUp().catch(onError)
  }

  return {
    async start() {
      const listening = await sql.listen(
        options.channel,
        (userId) => hub.wakeUser(userId),
        // The first call is the initial LISTEN: nothing can have been missed yet.
        () => {
          if (listens++ > 0) safeCatchUp()
        },
      )
      unlisten = listening.unlisten
      if (options.safetyPollMs > 0) {
        timer = setInterval(safeCatchUp, options.safetyPollMs)
        timer.unref?.()
      }
    },
    catchUp,
    async stop() {
      if (timer) clearInterval(timer)
      await unlisten?.().catch(() => {})
    },
  }
}
