// One stream per browser (README "One stream per browser"): the tab holding a Web Lock named after
// the user leads; it alone streams, and tells the other tabs every alarm, state change and error on a
// BroadcastChannel of the same name. A follower says hello (with the language it was opened in) and
// asks for language switches; it waits for the lock, and takes over when the leader's tab goes.
//
// What the leader shares is the client's business (`Shared`: alarms, states, errors, …); the relay
// only carries it, so a new kind of message needs no change here.

/** A message the leader shares: anything tagged `t`, but the two words followers use. */
export type Message = { t: string }

/** What a follower tells the leader. */
export type ToLeader = { t: 'hello'; lang?: string } | { t: 'lang'; lang: string }

/** The parts of BroadcastChannel and navigator.locks used (tests pass fakes). */
export type Channel = {
  postMessage(message: unknown): void
  close(): void
  onmessage: ((event: MessageEvent) => void) | null
}
export type Locks = {
  request(name: string, options: { signal: AbortSignal }, callback: () => Promise<void>): Promise<unknown>
}

export type RelayHandlers<Shared extends Message> = {
  /** Leader: what a tab that just said hello must know first (its state). */
  snapshot(): Shared
  /** Leader: a follower switched language (or opened in another one). */
  switchLang(lang: string): void
  /** Follower: what the leader shared. */
  fromLeader(message: Shared): void
  /** This tab got the lock: it streams for every tab until this settles. */
  lead(): Promise<void>
}

export type TabRelay<Shared extends Message> = {
  readonly role: 'leader' | 'follower'
  /** Leader: tells the followers. From a follower, nothing: it has nothing of its own to tell. */
  share(message: Shared): void
  /** Follower: asks the leader to switch the one stream's language. */
  askLang(lang: string): void
  /** No more messages in, no more waiting for the lock; a leader lets go of it. */
  stop(): void
  /** Leaves the channel (after stop()). */
  close(): void
}

export function createRelay<Shared extends Message>(
  tabs: { key: string; lang: string | undefined; channel: Channel; locks: Locks },
  handlers: RelayHandlers<Shared>,
): TabRelay<Shared> {
  const { key, channel } = tabs
  let role: TabRelay<Shared>['role'] = 'follower'
  let stopped = false
  const waiting = new AbortController()
  let release!: () => void
  const released = new Promise<void>((resolve) => (release = resolve))

  function post(message: Shared | ToLeader) {
    try {
      channel.postMessage(message)
    } catch {
      // The channel is closed (close() ran): nothing left to tell.
    }
  }

  function fromFollower(message: Shared | ToLeader) {
    if (message.t === 'hello') {
      post(handlers.snapshot())
      if ((message as ToLeader).lang) handlers.switchLang((message as ToLeader).lang!)
    } else if (message.t === 'lang') handlers.switchLang((message as ToLeader & { t: 'lang' }).lang)
  }

  async function lead() {
    if (stopped) return
    role = 'leader'
    await handlers.lead()
    // Hold the lock until stop(): a superseded leader that let go would hand the lock to a tab
    // that reconnects and takes the stream back.
    await released
  }

  channel.onmessage = ({ data }: MessageEvent<Shared | ToLeader>) => {
    if (stopped) return
    if (role === 'leader') fromFollower(data)
    // Followers hear each other's hellos too: only what the leader shares is theirs.
    else if (data.t !== 'hello' && data.t !== 'lang') handlers.fromLeader(data as Shared)
  }
  post({ t: 'hello', lang: tabs.lang })
  // Rejects with AbortError when stopped before this tab's turn.
  tabs.locks.request(key, { signal: waiting.signal }, lead).catch(() => {})

  return {
    get role() {
      return role
    },
    share(message) {
      if (role === 'leader') post(message)
    },
    askLang(lang) {
      post({ t: 'lang', lang })
    },
    stop() {
      stopped = true
      waiting.abort()
      release()
    },
    close() {
      channel.close()
    },
  }
}
