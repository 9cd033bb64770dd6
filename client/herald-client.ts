// Herald's browser client. One stream per user per browser, whatever the number of tabs; alarms
// in the user's language; nothing lost or repeated across a language switch, a network drop, a
// page reload or the tab holding the stream closing. An improvement over `new EventSource(...)`,
// never a requirement: the server speaks plain SSE to both.
//
// How: the tab holding a Web Lock named after the user is the leader; it alone holds the stream
// and relays every alarm and state change on a BroadcastChannel. The other tabs wait for the lock
// and take over, resuming from the last id they saw, when the leader goes. Without those APIs,
// each tab streams on its own (and the newest stream supersedes the others, by the server's rule).

import { decide, DEFAULT_RETRY_MS, MAX_BACKOFF_MS, type StreamEnd } from './decide'

export type Alarm = {
  id: number
  /** Per-user, only grows: the SSE id, and where a resumed stream starts after. */
  seq: number
  /** The language `message` is in (the best fit the alarm has). */
  locale: string
  message: string
  data: unknown
  createdAt: string
}

/**
 * `superseded`: a newer stream for this user opened elsewhere; this client stopped and will not
 * fight it. `expired`: the token expired and no `token` function was given to fetch another.
 * `closed`: close() was called, or an error that retrying cannot fix (see the `error` event).
 */
export type ConnectionState = 'connecting' | 'open' | 'reconnecting' | 'superseded' | 'expired' | 'closed'

/** `leader` holds the stream for every tab, `follower` gets alarms from it, `solo` streams alone. */
export type Role = 'leader' | 'follower' | 'solo'

export type StateEvent = {
  state: ConnectionState
  role: Role
  /** The language requested (`setLang`), shared by the tabs of one user. */
  lang: string
  /** The stream's negotiated language, once known. */
  locale?: string
  /** The seq the client has delivered up to. */
  lastId?: number
  /** While `reconnecting`: how long until the next try. */
  retryInMs?: number
}

export type HeraldErrorEvent = {
  /** Herald's error code (`UNAUTHORIZED`, `RATE_LIMITED`, …), or `NETWORK`. */
  code: string
  message: string
  status?: number
  /** True when the client gave up (state `closed`); otherwise it retries by itself. */
  fatal: boolean
}

export type Events = { alarm: Alarm; state: StateEvent; error: HeraldErrorEvent }

export type ConnectOptions = {
  /** Herald's base URL. Default: the page's origin. */
  url?: string
  userId: string
  /** One BCP 47 tag or a comma list (`ja-JP,ko`). Default: the browser's languages. */
  lang?: string
  /** A subscriber token, or a function that fetches a fresh one (called again when it expires). */
  token?: string | (() => string | Promise<string>)
  /** Share one stream between this user's tabs. Default: true where Web Locks and BroadcastChannel exist. */
  shared?: boolean
  /** Where the last id is kept across reloads (per user). Default: localStorage; null: nowhere. */
  storage?: Pick<Storage, 'getItem' | 'setItem'> | null
  /** Reconnect delays: exponential from `initialMs` (default: the server's `retry:`), capped, jittered. */
  backoff?: { initialMs?: number; maxMs?: number }
}

export type Connection = {
  readonly state: ConnectionState
  readonly role: Role
  readonly lang: string
  readonly locale: string | undefined
  readonly lastId: number | undefined
  /** Adds a listener; returns the function that removes it. */
  on<K extends keyof Events>(type: K, listener: (event: Events[K]) => void): () => void
  off<K extends keyof Events>(type: K, listener: (event: Events[K]) => void): void
  /** Reopens the stream in `lang`, resuming after the last id (for every tab of the user). */
  setLang(lang: string): void
  close(): void
}

/** Messages between the tabs of one user. */
type Relay =
  | { t: 'alarm'; alarm: Alarm }
  | { t: 'state'; state: ConnectionState; lang: string; locale?: string; lastId?: number }
  | { t: 'error'; error: HeraldErrorEvent }
  | { t: 'hello'; lang?: string }
  | { t: 'lang'; lang: string }

export function connect(options: ConnectOptions): Connection {
  const base = new URL(options.url ?? globalThis.location?.origin ?? '')
  const userId = options.userId
  const key = `herald:${base.origin}${base.pathname.replace(/\/$/, '')}:${userId}`
  const storage = options.storage === undefined ? safeLocalStorage() : options.storage
  const maxMs = options.backoff?.maxMs ?? MAX_BACKOFF_MS
  const listeners: { [K in keyof Events]: Set<(event: Events[K]) => void> } = {
    alarm: new Set(),
    state: new Set(),
    error: new Set(),
  }

  let lang = options.lang ?? defaultLang()
  let locale: string | undefined
  let lastId = readStored()
  let state: ConnectionState = 'connecting'
  let role: Role = 'solo'
  let retryInMs: number | undefined
  let closed = false
  let token = typeof options.token === 'string' ? options.token : undefined
  let serverRetry = options.backoff?.initialMs ?? DEFAULT_RETRY_MS
  /** Aborts the current stream or wait: a language switch or close() restarts or ends the loop. */
  let interrupt: AbortController | undefined
  let release!: () => void
  const released = new Promise<void>((resolve) => (release = resolve))

  const shared =
    options.shared !== false && typeof BroadcastChannel === 'function' && typeof navigator !== 'undefined' && !!navigator.locks
  const channel = shared ? new BroadcastChannel(key) : undefined
  const lockRequest = new AbortController()

  function emit<K extends keyof Events>(type: K, event: Events[K]) {
    for (const listener of [...listeners[type]]) {
      try {
        listener(event)
      } catch (error) {
        // One broken listener must not stop delivery to the others (or kill the stream loop).
        setTimeout(() => {
          throw error
        })
      }
    }
  }

  function snapshot(): StateEvent {
    return { state, role, lang, locale, lastId, ...(retryInMs !== undefined ? { retryInMs } : {}) }
  }

  function setState(next: ConnectionState, changes: { retryInMs?: number } = {}) {
    state = next
    retryInMs = changes.retryInMs
    emit('state', snapshot())
    if (role === 'leader') post({ t: 'state', state, lang, locale, lastId })
  }

  function post(message: Relay) {
    try {
      channel?.postMessage(message)
    } catch {
      // The channel is closed (close() ran): nothing left to tell.
    }
  }

  function deliver(alarm: Alarm) {
    // Exactly once, in order: a stream resumed after `lastId` never repeats, and relayed copies
    // that a follower already has are dropped here.
    if (lastId !== undefined && alarm.seq <= lastId) return
    lastId = alarm.seq
    writeStored(alarm.seq)
    if (role === 'leader') post({ t: 'alarm', alarm })
    emit('alarm', alarm)
  }

  function fail(error: HeraldErrorEvent) {
    emit('error', error)
    if (role === 'leader') post({ t: 'error', error })
  }

  async function currentToken(refresh: boolean): Promise<string | undefined> {
    if (typeof options.token !== 'function') return token
    if (refresh || token === undefined) token = await options.token()
    return token
  }

  /** The leader's (or a solo tab's) loop: open, read until the stream ends, ask decide(), do it, repeat. */
  async function run() {
    let attempt = 0
    let refreshToken = false
    let refreshedAfter401 = false
    while (!closed) {
      interrupt = new AbortController()
      if (state === 'open') setState('connecting')
      const since = maxDefined(lastId, readStored())
      let result: StreamEnd
      try {
        const bearer = await currentToken(refreshToken)
        refreshToken = false
        result = await openStream({
          base,
          userId,
          lang,
          since,
          token: bearer,
          signal: interrupt.signal,
          onRetry: (ms) => (serverRetry = options.backoff?.initialMs ?? ms),
          onReady: (ready) => {
            attempt = 0
            refreshedAfter401 = false
            locale = ready.locale
            if (typeof ready.since === 'number' && (lastId === undefined || ready.since > lastId)) {
              lastId = ready.since
              writeStored(ready.since)
            }
            setState('open')
          },
          onAlarm: deliver,
        })
      } catch (error) {
        result = interrupt.signal.aborted ? { kind: 'aborted' } : { kind: 'network', message: String(error) }
      }
      if (closed) return
      const action = decide(result, {
        attempt,
        tokenFunction: typeof options.token === 'function',
        refreshedAfter401,
        initialMs: serverRetry,
        maxMs,
        random: Math.random,
      })
      switch (action.do) {
        case 'reopen':
          continue
        case 'refresh-token-and-reopen':
          refreshToken = true
          continue
        case 'stop':
          return setState(action.state)
        case 'fail':
          fail(action.error)
          return stop('closed')
        case 'wait':
          if (action.error) fail(action.error)
          if (action.refreshToken) refreshToken = refreshedAfter401 = true
          attempt++
          setState('reconnecting', { retryInMs: action.ms })
          await wait(action.ms, interrupt.signal)
      }
    }
  }

  function stop(final: ConnectionState) {
    closed = true
    interrupt?.abort()
    lockRequest.abort()
    setState(final)
    release()
  }

  function onRelay({ data }: MessageEvent<Relay>) {
    if (closed) return
    if (role === 'leader') {
      if (data.t === 'hello') {
        post({ t: 'state', state, lang, locale, lastId })
        if (data.lang && data.lang !== lang) switchLang(data.lang)
      } else if (data.t === 'lang') switchLang(data.lang)
      return
    }
    if (data.t === 'alarm') deliver(data.alarm)
    else if (data.t === 'error') emit('error', data.error)
    else if (data.t === 'state') {
      lang = data.lang
      locale = data.locale
      lastId = maxDefined(lastId, data.lastId)
      // The leader was superseded: so is every tab of this browser. Stop waiting for the lock, or
      // the next tab to get it would take the stream back from whoever superseded us.
      if (data.state === 'superseded' || data.state === 'expired') stop(data.state)
      else setState(data.state)
    }
  }

  function switchLang(next: string) {
    if (next === lang) return
    lang = next
    interrupt?.abort()
    if (role === 'leader') post({ t: 'state', state, lang, locale, lastId })
  }

  if (channel) {
    role = 'follower'
    channel.onmessage = onRelay
    post({ t: 'hello', lang: options.lang })
    navigator.locks
      .request(key, { signal: lockRequest.signal }, async () => {
        if (closed) return
        role = 'leader'
        setState('connecting')
        await run()
        // Hold the lock until close(): a superseded leader that let go would hand the lock to a
        // tab that reconnects and takes the stream back.
        await released
      })
      .catch(() => {}) // AbortError: close() or superseded before this tab's turn
    queueMicrotask(() => emit('state', snapshot()))
  } else {
    queueMicrotask(() => {
      emit('state', snapshot())
      run()
    })
  }

  function readStored(): number | undefined {
    const raw = storage?.getItem(key)
    const value = raw ? Number(raw) : NaN
    return Number.isSafeInteger(value) && value >= 0 ? value : undefined
  }

  function writeStored(seq: number) {
    try {
      if ((readStored() ?? -1) < seq) storage?.setItem(key, String(seq))
    } catch {
      // Storage full or denied: resume across reloads is a nicety, the stream goes on.
    }
  }

  return {
    get state() {
      return state
    },
    get role() {
      return role
    },
    get lang() {
      return lang
    },
    get locale() {
      return locale
    },
    get lastId() {
      return lastId
    },
    on(type, listener) {
      listeners[type].add(listener)
      return () => listeners[type].delete(listener)
    },
    off(type, listener) {
      listeners[type].delete(listener)
    },
    setLang(next) {
      if (closed || next === lang) return
      if (role === 'follower') {
        lang = next
        post({ t: 'lang', lang: next })
        emit('state', snapshot())
      } else switchLang(next)
    },
    close() {
      if (closed) return
      stop('closed')
      channel?.close()
    },
  }
}

type StreamRequest = {
  base: URL
  userId: string
  lang: string
  since: number | undefined
  token: string | undefined
  signal: AbortSignal
  onRetry(ms: number): void
  onReady(ready: { locale: string; since?: number }): void
  onAlarm(alarm: Alarm): void
}

/** One stream, read to its end. fetch, not EventSource: it sees HTTP errors and their codes. */
async function openStream(req: StreamRequest): Promise<StreamEnd> {
  const url = new URL(`connection/${encodeURIComponent(req.userId)}`, req.base.href.replace(/\/?$/, '/'))
  url.searchParams.set('lang', req.lang)
  if (req.since !== undefined) url.searchParams.set('since', String(req.since))
  const headers: Record<string, string> = { accept: 'text/event-stream' }
  if (req.token) headers.authorization = `Bearer ${req.token}`
  const response = await fetch(url, { headers, signal: req.signal, cache: 'no-store' })
  if (!response.ok || !response.body) {
    const body = (await response.json().catch(() => undefined)) as { error?: { code?: string; message?: string } } | undefined
    const retryAfter = Number(response.headers.get('retry-after'))
    return {
      kind: 'http',
      status: response.status,
      code: body?.error?.code ?? `HTTP_${response.status}`,
      message: body?.error?.message ?? response.statusText,
      ...(retryAfter > 0 ? { retryAfterMs: retryAfter * 1000 } : {}),
    }
  }
  let end: StreamEnd | undefined
  let ready = false
  /** A `retry:` after the first frame: the server ending the stream on purpose says when to return. */
  let planned: number | undefined
  const parser = createParser((event) => {
    if (event.retry !== undefined) {
      if (ready) planned = event.retry
      else req.onRetry(event.retry)
    }
    if (event.data === undefined) return
    if (event.event === 'ready') {
      ready = true
      req.onReady(JSON.parse(event.data))
    }
    else if (event.event === 'alarm') req.onAlarm(JSON.parse(event.data))
    else if (event.event === 'superseded') end = { kind: 'superseded' }
    else if (event.event === 'expired') end = { kind: 'expired' }
  })
  const reader = response.body.pipeThrough(new TextDecoderStream()).getReader()
  try {
    while (!end) {
      const chunk = await reader.read()
      if (chunk.done) break
      parser(chunk.value)
    }
  } catch (error) {
    if (req.signal.aborted) return { kind: 'aborted' }
    return { kind: 'network', message: String(error) }
  } finally {
    reader.cancel().catch(() => {})
  }
  if (end) return end
  if (req.signal.aborted) return { kind: 'aborted' }
  return { kind: 'ended', ...(planned !== undefined ? { retry: planned } : {}) }
}

type SseEvent = { event?: string; data?: string; id?: string; retry?: number }

/** The SSE parsing rules (html.spec.whatwg.org, "Parsing an event stream"), for text chunks. */
export function createParser(dispatch: (event: SseEvent) => void): (chunk: string) => void {
  let buffer = ''
  let event: SseEvent = {}
  let data: string[] | undefined
  return (chunk) => {
    buffer += chunk
    // A trailing CR may be half of a CRLF: hold it back until the next chunk says.
    const held = buffer.endsWith('\r') ? '\r' : ''
    const lines = buffer.slice(0, buffer.length - held.length).split(/\r\n|\r|\n/)
    buffer = lines.pop()! + held
    for (const line of lines) {
      if (line === '') {
        if (data !== undefined) event.data = data.join('\n')
        if (event.data !== undefined || event.retry !== undefined) dispatch(event)
        event = {}
        data = undefined
        continue
      }
      if (line.startsWith(':')) continue
      const colon = line.indexOf(':')
      const field = colon < 0 ? line : line.slice(0, colon)
      const value = colon < 0 ? '' : line.slice(colon + 1).replace(/^ /, '')
      if (field === 'data') (data ??= []).push(value)
      else if (field === 'event') event.event = value
      else if (field === 'id' && !value.includes('\0')) event.id = value
      else if (field === 'retry' && /^\d+$/.test(value)) event.retry = Number(value)
    }
  }
}

function wait(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    const timer = setTimeout(resolve, ms)
    signal.addEventListener(
      'abort',
      () => {
        clearTimeout(timer)
        resolve()
      },
      { once: true },
    )
  })
}

function maxDefined(a: number | undefined, b: number | undefined): number | undefined {
  return a === undefined ? b : b === undefined ? a : Math.max(a, b)
}

function defaultLang(): string {
  const languages = typeof navigator !== 'undefined' ? navigator.languages : undefined
  return languages?.length ? languages.slice(0, 8).join(',') : 'en'
}

function safeLocalStorage(): Storage | null {
  try {
    return globalThis.localStorage ?? null
  } catch {
    return null // denied (sandboxed iframe, privacy settings)
  }
}
