// Who holds each user's stream. Claiming bumps the user's generation and ends the stream that held
// it before. A user with no open stream has nothing here: memory follows open streams, not users.

/** A stream as the registry sees it: whose it is, and how to end it when a newer one opens. */
export type Holder = {
  readonly userId: string
  /** Set by claim(): the holder's place in the user's order of streams. */
  generation: number
  superseded(): void
}

export type Registry = {
  readonly size: number
  /**
   * Takes the user's stream for `holder`, setting and returning its generation. The previous
   * holder is superseded at once. `generation` comes from a shared counter when there are several processes;
   * alone, the registry counts by itself.
   */
  claim(holder: Holder, generation?: number): number
  /** Gives the user up if `holder` still holds it. Safe to call more than once. */
  release(holder: Holder): void
  /** Ends the local holder if it is older than `generation` (a newer stream opened elsewhere). */
  supersede(userId: string, generation: number): boolean
  generationOf(userId: string): number | undefined
}

export function createRegistry(): Registry {
  const holders = new Map<string, Holder>()

  return {
    get size() {
      return holders.size
    },
    claim(holder, generation) {
      const previous = holders.get(holder.userId)
      const next = generation ?? (previous?.generation ?? 0) + 1
      holder.generation = next
      if (previous && previous.generation >= next) {
        // A newer stream got there first (possible only with a shared counter): this one is born stale.
        queueMicrotask(() => holder.superseded())
        return next
      }
      holders.set(holder.userId, holder)
      previous?.superseded()
      return next
    },
    release(holder) {
      if (holders.get(holder.userId) === holder) holders.delete(holder.userId)
    },
    supersede(userId, generation) {
      const holder = holders.get(userId)
      if (!holder || holder.generation >= generation) return false
      holders.delete(userId)
      holder.superseded()
      return true
    },
    generationOf: (userId) => holders.get(userId)?.generation,
  }
}
