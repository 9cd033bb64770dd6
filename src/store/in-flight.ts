// What a writer has under way, for shutdown: the publishes to answer before the pool closes, and
// the statements to cancel when the deadline is near (their transactions roll back, so nothing is
// committed after its client was told it failed).
export type Cancelable = { cancel(): void }

export type InFlight = {
  /** Follows one running statement until the returned function is called. */
  track(query: Cancelable): () => void
  /** Follows one publish until it settles; answers it unchanged. */
  follow<T>(publishing: Promise<T>): Promise<T>
  /** Resolves once every publish followed so far has settled. */
  settled(): Promise<void>
  /** From now on `canceled` is true; the statements running are cancelled. */
  cancel(): void
  readonly canceled: boolean
}

export function createInFlight(): InFlight {
  const running = new Set<Cancelable>()
  const underWay = new Set<Promise<unknown>>()
  let canceled = false
  return {
    track(query) {
      running.add(query)
      return () => void running.delete(query)
    },
    follow(publishing) {
      underWay.add(publishing)
      const forget = () => void underWay.delete(publishing)
      publishing.then(forget, forget)
      return publishing
    },
    async settled() {
      await Promise.allSettled([...underWay])
    },
    cancel() {
      canceled = true
      for (const query of running) query.cancel()
    },
    get canceled() {
      return canceled
    },
  }
}
