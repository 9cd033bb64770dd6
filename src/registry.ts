// Who holds each user's stream. Claiming bumps the user's generation and ends the stream that held
// it before. A user with no open stream has nothing here: memory follows open streams, not users.

/** A stream as the registry sees it: whose it is, and how to end it when a newer one opens. */
export type Holder = {
  readonly userId: string
  superseded(): void
}

export type Registry = {
  readonly size: number
  /**
   * Takes the user's stream for `holder` and returns its generation. The previous holder is
   * superseded at once. `generation` comes from a shared counter when there are several processes;
   * alone, the registry counts by itself.
   */
  claim(holder: Holder, generation?: number): number
  /** Gives the user up if `holder` still holds it. Safe to call more than once. */
  release(holder: Holder): void
  /** Ends the local holder if it is older than `generation` (a newer stream opened elsewhere). */
  supersede(userId: string, generation: number): boolean
  generationOf(userId: string): number | undefined
}

type Entry = { generation: number; holder: Holder }

export function createRegistry(): Registry {
  const entries = new Map<string, Entry>()

  return {
    get size() {
      return entries.size
    },
    claim(holder, generation) {
      const previous = entries.get(holder.userId)
      const next = generation ?? (previous?.generation ?? 0) + 1
      if (previous && previous.generation >= next) {
        // A newer stream got there first (possible only with a shared counter): this one is born stale.
        queueMicrotask(() => holder.superseded())
        return next
      }
      entries.set(holder.userId, { generation: next, holder })
      previous?.holder.superseded()
      return next
    },
    release(holder) {
      if (entries.get(holder.userId)?.holder === holder) entries.delete(holder.userId)
    },
    supersede(userId, generation) {
      const entry = entries.get(userId)
      if (!entry || entry.generation >= generation) return false
      entries.delete(userId)
      entry.holder.superseded()
      return true
    },
    generationOf: (userId) => entries.get(userId)?.generation,
  }
}
