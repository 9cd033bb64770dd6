// Who holds each stream key (a user's device, devices.ts). Claiming bumps the key's generation and ends the stream
// that held it before. A key with no open stream has nothing here: memory follows open streams.
//
// Across processes, a stream's real generation comes from a shared counter a moment after it
// claims locally. Until then it is provisional: a newer generation announced by another instance
// meanwhile is remembered and compared when the stream's own number arrives.

import type { SupersedeReason } from '../devices'

/** A stream as the registry sees it: whose it is, and how to end it when a newer one opens. */
export type Holder = {
  /** Streams of one key (a user's device) supersede each other; streams of different keys never do. */
  readonly key: string
  /** Set by claim() and confirm(): the holder's place in the key's order of streams. */
  generation: number
  superseded(reason: SupersedeReason): void
}

export type Registry = {
  readonly size: number
  /**
   * Takes the user's stream for `holder`, setting and returning its generation; the previous local
   * holder is superseded at once. Without `generation` the claim is provisional until confirm().
   */
  claim(holder: Holder, generation?: number): number
  /** Gives the holder its shared generation; ends it if another instance already went past it. */
  confirm(holder: Holder, generation: number): void
  /** Gives the key up if `holder` still holds it. Safe to call more than once. */
  release(holder: Holder): void
  /** Ends the local holder if it is older than `generation` (a newer stream opened elsewhere). */
  supersede(key: string, generation: number, reason?: SupersedeReason): boolean
  generationOf(key: string): number | undefined
  /** Every key with a stream here. */
  keys(): IterableIterator<string>
}

export function createRegistry(): Registry {
  const holders = new Map<string, Holder>()
  const provisional = new Set<Holder>()
  /** The newest generation announced for a key while its holder was provisional, and why. */
  const announced = new Map<string, { generation: number; reason: SupersedeReason }>()

  function end(holder: Holder, reason: SupersedeReason) {
    holders.delete(holder.key)
    provisional.delete(holder)
    announced.delete(holder.key)
    holder.superseded(reason)
  }

  return {
    get size() {
      return holders.size
    },
    claim(holder, generation) {
      const previous = holders.get(holder.key)
      const next = generation ?? (previous?.generation ?? 0) + 1
      holder.generation = next
      if (previous && previous.generation >= next) {
        // A newer stream got there first (possible only with a shared counter): this one is born stale.
        queueMicrotask(() => holder.superseded('newer-connection'))
        return next
      }
      holders.set(holder.key, holder)
      if (generation === undefined) provisional.add(holder)
      if (previous) {
        provisional.delete(previous)
        previous.superseded('newer-connection')
      }
      return next
    },
    confirm(holder, generation) {
      if (!provisional.delete(holder) || holders.get(holder.key) !== holder) return
      holder.generation = generation
      const seen = announced.get(holder.key)
      announced.delete(holder.key)
      if (seen !== undefined && seen.generation > generation) end(holder, seen.reason)
    },
    release(holder) {
      provisional.delete(holder)
      if (holders.get(holder.key) !== holder) return
      holders.delete(holder.key)
      announced.delete(holder.key)
    },
    supersede(key, generation, reason = 'newer-connection') {
      const holder = holders.get(key)
      if (!holder) return false
      if (provisional.has(holder)) {
        const seen = announced.get(key)
        if (!seen || generation > seen.generation) announced.set(key, { generation, reason })
        return false
      }
      if (holder.generation >= generation) return false
      end(holder, reason)
      return true
    },
    generationOf: (key) => holders.get(key)?.generation,
    keys: () => holders.keys(),
  }
}
