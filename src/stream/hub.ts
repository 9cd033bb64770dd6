// Whom to wake: every open stream of this process, by user. A wake-up for a user reaches all of
// its streams here; streams never know which signal backend sent it. Alarms this process itself
// just committed are offered to the user's streams here too, ahead of the wake-up.
import type { AlarmRow, Badge } from '../store/alarms'

/** What a stream shows the hub: whose it is, how far it has read, and how to wake it. */
export type Listener = {
  readonly userId: string
  readonly cursor: number
  wake(): void
  /**
   * Alarms just committed (in seq order) and the badge after them: shown now if they come right
   * after the cursor, else left to the wake-up that follows.
   */
  offer(rows: AlarmRow[], badge: Badge): void
}

export type Hub = {
  subscribe(listener: Listener): void
  /** Safe to call more than once, or for a listener never subscribed. */
  unsubscribe(listener: Listener): void
  wakeUser(userId: string): void
  offerUser(userId: string, rows: AlarmRow[], badge: Badge): void
  /** Every listened-to user, with the lowest cursor among its listeners. */
  cursors(): Map<string, number>
  readonly size: number
}

export function createHub(): Hub {
  // Almost always one listener per user; a Set only while a user has several streams.
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
    offerUser(userId, rows, badge) {
      const entry = byUser.get(userId)
      if (!entry) return
      if (entry instanceof Set) for (const listener of entry) listener.offer(rows, badge)
      else entry.offer(rows, badge)
    },
    cursors() {
      const out = new Map<string, number>()
      for (const [userId, entry] of byUser) {
        if (!(entry instanceof Set)) out.set(userId, entry.cursor)
        else {
          let lowest = Infinity
          for (const listener of entry) lowest = Math.min(lowest, listener.cursor)
          out.set(userId, lowest)
        }
      }
      return out
    },
  }
}
