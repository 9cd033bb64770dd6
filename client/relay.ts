// One stream per browser (README "One stream per browser"): the tab holding a Web Lock named after
// the user leads; it alone streams, and tells the other tabs every alarm, state change and error on a
// BroadcastChannel of the same name. A follower says hello (with the language it was opened in) and
// asks for language switches; it waits for the lock, and takes over when the leader's tab goes.
import type { Alarm, ConnectionState, HeraldErrorEvent } from './herald-client'

/** What the leader tells the followers. */
export type ToFollowers =
  | { t: 'alarm'; alarm: Alarm }
  | { t: 'state'; state: ConnectionState; lang: string; locale?: string; lastId?: number }
  | { t: 'error'; error: HeraldErrorEvent }
export type RelayedState = Extract<ToFollowers, { t: 'state' }>

/** What a follower tells the leader. */
export type ToLeader = { t: 'hello'; lang?: string } | { t: 'lang'; lang: string }

/** Messages between the tabs of one user. */
export type Relay = ToFollowers | ToLeader

/** The parts of BroadcastChannel and navigator.locks used (tests pass fakes). */
export type Channel = {
  postMessage(message: Relay): void
  close(): void
  onmessage: ((event: MessageEvent<Relay>) => void) | null
}
export type Locks = {
  request(name: string, options: { signal: AbortSignal }, callback: () => Promise<void>): Promise<unknown>
}

export type RelayHandlers = {
  /** Leader: its state, for a tab that just said hello. */
  snapshot(): RelayedState
  /** Leader: a follower switched language (or opened in another one). */
  switchLang(lang: string): void
  /** Follower: what the leader relayed. */
  alarm(alarm: Alarm): void
  error(error: HeraldErrorEvent): void
  state(message: RelayedState): void
  /** This tab got the lock: it streams for every tab until this settles. */
  lead(): Promise<void>
}

export type TabRelay = {
  readonly role: 'leader' | 'follower'
  /** Leader: tells the followers. From a follower, nothing: it has nothing of its own to tell. */
  share(message: ToFollowers): void
  /** Follower: asks the leader to switch the one stream's language. */
  askLang(lang: string): void
  /** No more messages in, no more waiting for the lock; a leader lets go of it. */
  stop(): void
  /** Leaves the channel (after stop()). */
  close(): void
}

export function createRelay(
  tabs: { key: string; lang: string | undefined; channel: Channel; locks: Locks },
  handlers: RelayHandlers,
): TabRelay {
  const { key, channel } = tabs
  let role: TabRelay['role'] = 'follower'
  let stopped = false
  const waiting = new AbortController()
  let release!: () => void
  const released = new Promise<void>((resolve) => (release = resolve))

  function post(message: Relay) {
    try {
      channel.postMessage(message)
    } catch {
      // The channel is closed (close() ran): nothing left to tell.
    }
  }

  function fromFollower(message: Relay) {
    if (message.t === 'hello') {
      post(handlers.snapshot())
      if (message.lang) handlers.switchLang(message.lang)
    } else if (message.t === 'lang') handlers.switchLang(message.lang)
  }

  function fromLeader(message: Relay) {
    if (message.t === 'alarm') handlers.alarm(message.alarm)
    else if (message.t === 'error') handlers.error(message.error)
    else if (message.t === 'state') handlers.state(message)
  }

  async function lead() {
    if (stopped) return
    role = 'leader'
    await handlers.lead()
    // Hold the lock until stop(): a superseded leader that let go would hand the lock to a tab
    // that reconnects and takes the stream back.
    await released
  }

  channel.onmessage = ({ data }) => {
    if (stopped) return
    if (role === 'leader') fromFollower(data)
    else fromLeader(data)
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
