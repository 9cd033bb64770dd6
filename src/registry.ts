// Who holds each user's stream. Claiming bumps the user's generation and ends the stream that held
// it before. A user with no open stream has nothing here: memory follows open streams, not users.

export type Lease = {
  readonly userId: string
  readonly generation: number
  /** Gives the user up if this lease still holds it. Safe to call more than once. */
  release(): void
}

export type Registry = {
  readonly size: number
  /**
   * Takes the user's stream. The previous holder's `onSuperseded` runs at once. `generation` comes
   * from a shared counter when there are several processes; alone, the registry counts by itself.
   */
  claim(userId: string, onSuperseded: () => void, generation?: number): Lease
  /** Ends the local holder if it is older than `generation` (a newer stream opened elsewhere). */
  supersede(userId: string, generation: number): boolean
  generationOf(userId: string): number | undefined
}

type Holder = { generation: number; onSuperseded: () => void }

export function createRegistry(): Registry {
  const holders = new Map<string, Holder>()

  function claim(userId: string, onSuperseded: () => void, generation?: number): Lease {
    const previous = holders.get(userId)
    const next = generation ?? (previous?.generation ?? 0) + 1
    if (previous && previous.generation >= next) {
      // A newer stream got there first (possible only with a shared counter): this one is born stale.
      queueMicrotask(onSuperseded)
      return { userId, generation: next, release() {} }
    }
    const holder: Holder = { generation: next, onSuperseded }
    holders.set(userId, holder)
    previous?.onSuperseded()
    return {
      userId,
      generation: next,
      release() {
        if (holders.get(userId) === holder) holders.delete(userId)
      },
    }
  }

  function supersede(userId: string, generation: number): boolean {
    const holder = holders.get(userId)
    if (!holder || holder.generation >= generation) return false
    holders.delete(userId)
    holder.onSuperseded()
    return true
  }

  return {
    get size() {
      return holders.size
    },
    claim,
    supersede,
    generationOf: (userId) => holders.get(userId)?.generation,
  }
}
