// Herald's browser client. One stream per user per browser, whatever the number of tabs; alarms
// in the user's language; nothing lost or repeated across a language switch, a network drop, a
// page reload or the tab holding the stream closing. An improvement over `new EventSource(...)`,
// never a requirement: the server speaks plain SSE to both.
//
// How: the tab holding a Web Lock named after the user is the leader; it alone holds the stream
// and relays every alarm and state change on a BroadcastChannel. The other tabs wait for the lock
// and take over, resuming from the last id they saw, when the leader goes (client/relay.ts). Without
// those APIs, each tab streams on its own (and the newest stream supersedes the others, by the
// server's rule). What to do when a stream ends is decided in client/decide.ts; connect() does it.
//
// This module declares every public type: its .d.ts is served alone at /client.d.ts.

import { decide, DEFAULT_RETRY_MS, MAX_BACKOFF_MS, type Action, type StreamEnd } from './decide'
import { createRelay, type Channel, type Locks } from './relay'
import { requestJson, type JsonRequest } from './requests'

export type Alarm = {
  id: number
  /** Per-user, only grows: the SSE id, and where a resumed stream starts after. */
  seq: number
  /** The language `message` is in (the best fit the alarm has). */
  locale: string
  /** Plain text (never HTML): a template alarm's is rendered in `locale` and the stream's time zone. */
  message: string
  /** The template key, for an alarm published with `template` + `params`. */
  template?: string
  /** Set when a template alarm's stored params no longer fit (`INVALID_PARAMS`: those show as `{name}`). */
  renderError?: string
  data: unknown
  createdAt: string
  /** Set when the alarm expires: from then on the server no longer shows it (hide it then too). */
  expiresAt?: string
}

/**
 * `superseded`: a newer stream of this device opened (another tab set, a page of this browser in
 * another window), or the user opened more devices than Herald keeps (`reason` says which); this
 * client stopped and will not fight it. `expired`: the token expired and no `token` function was given to fetch another.
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
  /** When `superseded`: by a newer stream of this device, or because the user has too many devices. */
  reason?: 'newer-connection' | 'too-many-devices'
}

export type HeraldErrorEvent = {
  /** Herald's error code (`UNAUTHORIZED`, `RATE_LIMITED`, …), `NETWORK`, or `MALFORMED_EVENT` (a frame it could not read and skipped). */
  code: string
  message: string
  status?: number
  /** True when the client gave up (state `closed`); otherwise it retries by itself. */
  fatal: boolean
}

/** Alarms not read (`unread`) and not seen (`unseen`), archived ones left out: exact, from the server. */
export type Badge = { unread: number; unseen: number }

/**
 * A change of an alarm's state, from this device or any other (or a server's SQL): every alarm
 * in `ids`, or every alarm with seq ≤ `upTo`. In the user's ordered log, like alarms: `seq` comes
 * from the same sequence, exactly once, in order.
 */
export type InboxChange = {
  seq: number
  change: 'read' | 'unread' | 'seen' | 'unseen' | 'archive' | 'unarchive'
  ids?: number[]
  upTo?: number
}

/**
 * An alarm deleted (by remove(), another device, or a server): `id` and `seq` name the alarm, as
 * its `alarm` event did. In the ordered log like alarms: exactly once, in order. An alarm that
 * expired is not announced: its `expiresAt` said when it goes.
 */
export type Deleted = { id: number; seq: number }

export type Events = { alarm: Alarm; state: StateEvent; error: HeraldErrorEvent; badge: Badge; change: InboxChange; deleted: Deleted }

/** An alarm as history lists it, with its state (null, or when). */
export type HistoryItem = Alarm & { readAt: string | null; seenAt: string | null; archivedAt: string | null }

export type HistoryPage = {
  /** Newest first. */
  items: HistoryItem[]
  /** Pass as `before` for the next (older) page; null on the last one. */
  next: number | null
  badge: Badge
}

export type HistoryOptions = {
  /** Default `inbox`: not archived. */
  status?: 'inbox' | 'unread' | 'unseen' | 'archived' | 'all'
  before?: number
  /** 1–100, default 20. */
  limit?: number
}

/** Which alarms a mark changes: these ids, every alarm up to a seq, or `'all'` (all the client has seen). */
export type MarkTarget = number[] | { upTo: number } | 'all'

export type MarkResult = { changed: number; badge: Badge }

export type RemoveResult = { id: number; seq: number; badge: Badge }

export type ConnectOptions = {
  /** Herald's base URL. Default: the page's origin. */
  url?: string
  userId: string
  /** One BCP 47 tag or a comma list (`ja-JP,ko`). Default: the browser's languages. */
  lang?: string
  /**
   * This browser's device: its streams supersede each other, never another device's. Default: a
   * random id kept in localStorage (one per browser, shared by its tabs); a string sets it; `null`
   * names none (the user's unnamed device, as a plain EventSource).
   */
  device?: string | null
  /**
   * The IANA time zone template alarms show dates in. Default: the browser's
   * (`Intl.DateTimeFormat().resolvedOptions().timeZone`); null: send none (the server's default).
   */
  timeZone?: string | null
  /**
   * Start after this seq on the first stream instead of the stored last id (0: from the first
   * alarm), e.g. to read earlier alarms again in a new language. Later reconnects resume as usual.
   */
  since?: number
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
  /** The device this client streams as; undefined for the unnamed one. */
  readonly device: string | undefined
  /** Adds a listener; returns the function that removes it. */
  on<K extends keyof Events>(type: K, listener: (event: Events[K]) => void): () => void
  off<K extends keyof Events>(type: K, listener: (event: Events[K]) => void): void
  /** The user's badge, once the stream said it (tabs share it); updated by `badge` events. */
  readonly badge: Badge | undefined
  /** Reopens the stream in `lang`, resuming after the last id (for every tab of the user). */
  setLang(lang: string): void
  /**
   * Marks alarms read. `'all'` sends `upTo` = the newest seq this client has seen, so an alarm that
   * commits at the same moment stays unread. Rejects with an Error carrying Herald's `code` and
   * `status` (`ALARM_NOT_FOUND`, …). The change reaches every tab and device through the stream.
   */
  markRead(target: MarkTarget): Promise<MarkResult>
  markUnread(target: MarkTarget): Promise<MarkResult>
  markSeen(target: MarkTarget): Promise<MarkResult>
  archive(target: MarkTarget): Promise<MarkResult>
  unarchive(target: MarkTarget): Promise<MarkResult>
  /**
   * Deletes one of the user's alarms (by its id). Every tab and device gets `deleted` through the
   * stream. Rejects with `ALARM_NOT_FOUND` for an alarm that is not the user's, gone, or expired.
   */
  remove(id: number): Promise<RemoveResult>
  /** A page of the user's history, newest first, in the connection's language. */
  history(options?: HistoryOptions): Promise<HistoryPage>
  close(): void
}

/** All that changes while connected, in one place (the stream loop's counters live in run()). */
type Now = {
  state: ConnectionState
  reason: StateEvent['reason']
  badge: Badge | undefined
  lang: string
  locale: string | undefined
  lastId: number | undefined
  retryInMs: number | undefined
  /** close() ran, an error retrying cannot fix, or (a follower) the leader was superseded or expired. */
  closed: boolean
  /** Aborts the current stream or wait: a language switch or close() restarts or ends the loop. */
  interrupt: AbortController | undefined
}

/** The stream loop's memory between two streams (decide() reads it). */
type Loop = { attempt: number; refreshToken: boolean; refreshedAfter401: boolean; initialMs: number }

/** What the leader tab tells the other tabs of its browser (client/relay.ts carries it). */
type Shared =
  | { t: 'alarm'; alarm: Alarm }
  | { t: 'change'; change: InboxChange }
  | { t: 'deleted'; deleted: Deleted; at: number }
  | { t: 'badge'; badge: Badge }
  | { t: 'state'; state: ConnectionState; lang: string; locale?: string; lastId?: number; badge?: Badge; reason?: StateEvent['reason'] }
  | { t: 'error'; error: HeraldErrorEvent }
type RelayedState = Extract<Shared, { t: 'state' }>

export function connect(options: ConnectOptions): Connection {
  const base = new URL(options.url ?? globalThis.location?.origin ?? '')
  const key = `herald:${base.origin}${base.pathname.replace(/\/$/, '')}:${options.userId}`
  const stored = createStoredSeq(options.storage === undefined ? safeLocalStorage() : options.storage, key)
  const maxMs = options.backoff?.maxMs ?? MAX_BACKOFF_MS
  const listeners = createListeners()
  const tokens = createTokens(options.token)
  const storage = options.storage === undefined ? safeLocalStorage() : options.storage
  const device = options.device === null ? undefined : (options.device ?? browserDevice(storage, base))
  const now: Now = {
    state: 'connecting',
    reason: undefined,
    badge: undefined,
    lang: options.lang ?? defaultLang(),
    locale: undefined,
    lastId: options.since ?? stored.read(),
    retryInMs: undefined,
    closed: false,
    interrupt: undefined,
  }
  const tabs = sharedTabs(options, key)
  const relay =
    tabs &&
    createRelay<Shared>(
      { key, lang: options.lang, ...tabs },
      {
        snapshot: relayedState,
        switchLang,
        fromLeader,
        lead,
      },
    )
  const role = (): Role => relay?.role ?? 'solo'
  const timeZone = options.timeZone === undefined ? browserTimeZone() : (options.timeZone ?? undefined)

  function snapshot(): StateEvent {
    const { state, lang, locale, lastId, retryInMs, reason } = now
    return { state, role: role(), lang, locale, lastId, ...(retryInMs !== undefined ? { retryInMs } : {}), ...(reason ? { reason } : {}) }
  }

  function relayedState(): RelayedState {
    const { state, lang, locale, lastId, badge, reason } = now
    return { t: 'state', state, lang, locale, lastId, ...(badge ? { badge } : {}), ...(reason ? { reason } : {}) }
  }

  function setState(next: ConnectionState, changes: { retryInMs?: number; reason?: StateEvent['reason'] } = {}) {
    now.state = next
    now.retryInMs = changes.retryInMs
    now.reason = changes.reason
    listeners.emit('state', snapshot())
    relay?.share(relayedState())
  }

  /**
   * Exactly once, in order, for alarms and changes alike (one sequence): a stream resumed after
   * `lastId` never repeats, and relayed copies that a follower already has are dropped here.
   */
  function advance(seq: number): boolean {
    if (now.lastId !== undefined && seq <= now.lastId) return false
    now.lastId = seq
    stored.write(seq)
    return true
  }

  function deliver(alarm: Alarm) {
    if (!advance(alarm.seq)) return
    relay?.share({ t: 'alarm', alarm })
    listeners.emit('alarm', alarm)
  }

  function deliverChange(change: InboxChange) {
    if (!advance(change.seq)) return
    relay?.share({ t: 'change', change })
    listeners.emit('change', change)
  }

  /** `at`: the deletion's own place in the log (the event's id), not the alarm's seq. */
  function deliverDeleted(deleted: Deleted, at: number) {
    if (!advance(at)) return
    relay?.share({ t: 'deleted', deleted, at })
    listeners.emit('deleted', { id: deleted.id, seq: deleted.seq })
  }

  function setBadge(badge: Badge) {
    now.badge = { unread: badge.unread, unseen: badge.unseen }
    relay?.share({ t: 'badge', badge: now.badge })
    listeners.emit('badge', now.badge)
  }

  /** Reports a frame it could not read and moves past it, so a reconnect does not read it again. */
  function skipMalformed(event: string, seq: number | undefined) {
    if (seq !== undefined && (now.lastId === undefined || seq > now.lastId)) {
      now.lastId = seq
      stored.write(seq)
    }
    fail({ code: 'MALFORMED_EVENT', message: `could not read a '${event}' event${seq === undefined ? '' : ` (id ${seq})`}; skipped it`, fatal: false })
  }

  function fail(error: HeraldErrorEvent) {
    listeners.emit('error', error)
    relay?.share({ t: 'error', error })
  }

  function fromLeader(message: Shared) {
    if (message.t === 'alarm') deliver(message.alarm)
    else if (message.t === 'change') deliverChange(message.change)
    else if (message.t === 'deleted') deliverDeleted(message.deleted, message.at)
    else if (message.t === 'badge') setBadge(message.badge)
    else if (message.t === 'error') listeners.emit('error', message.error)
    else if (message.t === 'state') follow(message)
  }

  /** A follower takes the leader's state as its own. */
  function follow(message: RelayedState) {
    now.lang = message.lang
    now.locale = message.locale
    now.lastId = maxDefined(now.lastId, message.lastId)
    if (message.badge && (message.badge.unread !== now.badge?.unread || message.badge.unseen !== now.badge?.unseen))
      setBadge(message.badge)
    // The leader was superseded: so is every tab of this browser. Stop waiting for the lock, or
    // the next tab to get it would take the stream back from whoever superseded us.
    if (message.state === 'superseded' || message.state === 'expired') stop(message.state, message.reason)
    else setState(message.state)
  }

  function switchLang(next: string) {
    if (next === now.lang) return
    now.lang = next
    now.interrupt?.abort()
    relay?.share(relayedState())
  }

  function stop(final: ConnectionState, reason?: StateEvent['reason']) {
    now.closed = true
    now.interrupt?.abort()
    relay?.stop()
    setState(final, { reason })
  }

  /** This tab got the lock: it streams for every tab of the user. */
  async function lead() {
    setState('connecting')
    await run()
  }

  /** The leader's (or a solo tab's) loop: open, read until the stream ends, decide, act, repeat. */
  async function run() {
    const initialMs = options.backoff?.initialMs ?? DEFAULT_RETRY_MS
    const loop: Loop = { attempt: 0, refreshToken: false, refreshedAfter401: false, initialMs }
    while (!now.closed) {
      const signal = (now.interrupt = new AbortController()).signal
      if (now.state === 'open') setState('connecting')
      const end = await openOnce(loop, signal)
      if (now.closed) return
      const action = decide(end, {
        attempt: loop.attempt,
        tokenFunction: tokens.renewable,
        refreshedAfter401: loop.refreshedAfter401,
        initialMs: loop.initialMs,
        maxMs,
        random: Math.random,
      })
      if (!(await act(action, loop, signal))) return
    }
  }

  /** One stream, after the last id this tab (or any tab, through storage) has. */
  async function openOnce(loop: Loop, signal: AbortSignal): Promise<StreamEnd> {
    // With `since` asked for, this connection's own last id is the truth: storage may be ahead.
    const since = options.since !== undefined ? now.lastId : maxDefined(now.lastId, stored.read())
    try {
      const token = await tokens.current(loop.refreshToken)
      loop.refreshToken = false
      return await openStream({
        base,
        userId: options.userId,
        device,
        lang: now.lang,
        timeZone,
        since,
        token,
        signal,
        onRetry: (ms) => (loop.initialMs = options.backoff?.initialMs ?? ms),
        onReady: (ready) => {
          loop.attempt = 0
          loop.refreshedAfter401 = false
          opened(ready)
        },
        onAlarm: deliver,
        onChange: deliverChange,
        onDeleted: deliverDeleted,
        onBadge: setBadge,
        onMalformed: skipMalformed,
      })
    } catch (error) {
      return signal.aborted ? { kind: 'aborted' } : { kind: 'network', message: String(error) }
    }
  }

  function opened(ready: Ready) {
    now.locale = ready.locale
    if (typeof ready.since === 'number' && (now.lastId === undefined || ready.since > now.lastId)) {
      now.lastId = ready.since
      stored.write(ready.since)
    }
    if (ready.badge) setBadge(ready.badge)
    setState('open')
  }

  /** One call beside the stream, with the user's token; a 401 gets one fresh token from a token function. */
  async function call<T>(path: string, request: Omit<JsonRequest, 'url' | 'token'>): Promise<T> {
    const url = new URL(`users/${encodeURIComponent(options.userId)}/${path}`, base.href.replace(/\/?$/, '/'))
    let answer = await requestJson<T>({ ...request, url, token: await tokens.current(false) })
    if (answer.status === 401 && tokens.renewable) answer = await requestJson<T>({ ...request, url, token: await tokens.current(true) })
    if (answer.failure) throw answer.failure
    return answer.json!
  }

  function mark(kind: string, target: MarkTarget): Promise<MarkResult> {
    let body: object
    if (Array.isArray(target)) body = { ids: target }
    else if (target === 'all') body = now.lastId === undefined ? { all: true } : { upTo: now.lastId }
    else body = { upTo: target.upTo }
    return call<MarkResult>(`alarms/${kind}`, { method: 'POST', body })
  }

  /** Carries out what decide() said; false when the loop is over. */
  async function act(action: Action, loop: Loop, signal: AbortSignal): Promise<boolean> {
    switch (action.do) {
      case 'reopen':
        return true
      case 'refresh-token-and-reopen':
        loop.refreshToken = true
        return true
      case 'stop':
        // Not stop(): this tab keeps the lock and keeps answering hello, so that no tab of this
        // browser takes the stream back from whoever superseded it.
        setState(action.state, { reason: action.reason })
        return false
      case 'fail':
        fail(action.error)
        stop('closed')
        return false
      case 'wait':
        if (action.error) fail(action.error)
        if (action.refreshToken) loop.refreshToken = loop.refreshedAfter401 = true
        loop.attempt++
        setState('reconnecting', { retryInMs: action.ms })
        await wait(action.ms, signal)
        return true
    }
  }

  queueMicrotask(() => {
    listeners.emit('state', snapshot())
    if (!relay) run() // a follower runs once it leads
  })

  return {
    get state() {
      return now.state
    },
    get role() {
      return role()
    },
    get lang() {
      return now.lang
    },
    get locale() {
      return now.locale
    },
    get lastId() {
      return now.lastId
    },
    get device() {
      return device
    },
    get badge() {
      return now.badge
    },
    markRead: (target) => mark('read', target),
    markUnread: (target) => mark('unread', target),
    markSeen: (target) => mark('seen', target),
    archive: (target) => mark('archive', target),
    unarchive: (target) => mark('unarchive', target),
    remove: (id) => call<RemoveResult>(`alarms/${encodeURIComponent(String(id))}`, { method: 'DELETE' }),
    history({ status, before, limit } = {}) {
      const query = new URLSearchParams()
      if (status) query.set('status', status)
      if (before !== undefined) query.set('before', String(before))
      if (limit !== undefined) query.set('limit', String(limit))
      query.set('lang', now.lang)
      if (timeZone) query.set('tz', timeZone)
      return call<HistoryPage>(`alarms?${query}`, { method: 'GET' })
    },
    on: listeners.on,
    off: listeners.off,
    setLang(next) {
      if (now.closed || next === now.lang) return
      if (role() !== 'follower') return switchLang(next)
      now.lang = next
      relay!.askLang(next)
      listeners.emit('state', snapshot())
    },
    close() {
      if (now.closed) return
      stop('closed')
      relay?.close()
    },
  }
}

function createListeners() {
  const sets: { [K in keyof Events]: Set<(event: Events[K]) => void> } = {
    alarm: new Set(),
    state: new Set(),
    error: new Set(),
    badge: new Set(),
    change: new Set(),
    deleted: new Set(),
  }
  return {
    on<K extends keyof Events>(type: K, listener: (event: Events[K]) => void) {
      sets[type].add(listener)
      return () => sets[type].delete(listener)
    },
    off<K extends keyof Events>(type: K, listener: (event: Events[K]) => void) {
      sets[type].delete(listener)
    },
    emit<K extends keyof Events>(type: K, event: Events[K]) {
      for (const listener of [...sets[type]]) {
        try {
          listener(event)
        } catch (error) {
          // One broken listener must not stop delivery to the others (or kill the stream loop).
          setTimeout(() => {
            throw error
          })
        }
      }
    },
  }
}

/** A fixed token, or the function's latest (fetched once, then again on request). */
function createTokens(option: ConnectOptions['token']) {
  let token = typeof option === 'string' ? option : undefined
  return {
    renewable: typeof option === 'function',
    async current(refresh: boolean): Promise<string | undefined> {
      if (typeof option !== 'function') return token
      if (refresh || token === undefined) token = await option()
      return token
    },
  }
}

/** The last id delivered, kept across reloads per Herald URL and user: it only grows. */
function createStoredSeq(storage: ConnectOptions['storage'], key: string) {
  function read(): number | undefined {
    const raw = storage?.getItem(key)
    const value = raw ? Number(raw) : NaN
    return Number.isSafeInteger(value) && value >= 0 ? value : undefined
  }
  function write(seq: number) {
    try {
      if ((read() ?? -1) < seq) storage?.setItem(key, String(seq))
    } catch {
      // Storage full or denied: resume across reloads is a nicety, the stream goes on.
    }
  }
  return { read, write }
}

/** The tabs share one stream where BroadcastChannel and Web Locks exist, unless `shared: false`. */
function sharedTabs(options: ConnectOptions, key: string): { channel: Channel; locks: Locks } | undefined {
  if (options.shared === false || typeof BroadcastChannel !== 'function') return undefined
  if (typeof navigator === 'undefined' || !navigator.locks) return undefined
  return { channel: new BroadcastChannel(key), locks: navigator.locks }
}

type Ready = { locale: string; since?: number; badge?: Badge }

type StreamRequest = {
  base: URL
  userId: string
  device: string | undefined
  lang: string
  timeZone: string | undefined
  since: number | undefined
  token: string | undefined
  signal: AbortSignal
  onRetry(ms: number): void
  onReady(ready: Ready): void
  onAlarm(alarm: Alarm): void
  onChange(change: InboxChange): void
  onDeleted(deleted: Deleted, at: number): void
  onBadge(badge: Badge): void
  /** An event whose data is not the JSON it should be: skipped, never a reason to reconnect. */
  onMalformed(event: string, id: number | undefined): void
}

/** One stream, read to its end. fetch, not EventSource: it sees HTTP errors and their codes. */
async function openStream(req: StreamRequest): Promise<StreamEnd> {
  const url = new URL(`connection/${encodeURIComponent(req.userId)}`, req.base.href.replace(/\/?$/, '/'))
  url.searchParams.set('lang', req.lang)
  if (req.device !== undefined) url.searchParams.set('device', req.device)
  if (req.timeZone !== undefined) url.searchParams.set('tz', req.timeZone)
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
    if (event.event === 'superseded') {
      const why = (parseJson(event.data) as { reason?: string } | undefined)?.reason
      end = { kind: 'superseded', ...(why === 'too-many-devices' || why === 'newer-connection' ? { reason: why } : {}) }
    }
    else if (event.event === 'expired') end = { kind: 'expired' }
    else if (event.event !== undefined && LOG_EVENTS.has(event.event)) {
      // One frame the client cannot read must not throw out of the stream: a reconnect would
      // resume before it and read it again, for ever.
      const data = parseJson(event.data)
      if (data === undefined) return req.onMalformed(event.event, eventId(event.id))
      if (event.event === 'ready') {
        ready = true
        req.onReady(data as Ready)
      } else if (event.event === 'alarm') req.onAlarm(data as Alarm)
      else if (event.event === 'state') req.onChange(data as InboxChange)
      else if (event.event === 'deleted') {
        const at = eventId(event.id)
        if (at === undefined) return req.onMalformed(event.event, undefined)
        req.onDeleted(data as Deleted, at)
      }
      else req.onBadge(data as Badge)
    }
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

function parseJson(text: string): object | undefined {
  try {
    const value: unknown = JSON.parse(text)
    return typeof value === 'object' && value !== null ? value : undefined
  } catch {
    return undefined
  }
}

/** The events whose data the client reads (the rest it does not know, and ignores). */
const LOG_EVENTS = new Set(['ready', 'alarm', 'state', 'deleted', 'badge'])

function eventId(id: string | undefined): number | undefined {
  const value = id === undefined || !/^\d{1,15}$/.test(id) ? NaN : Number(id)
  return Number.isSafeInteger(value) ? value : undefined
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

/**
 * This browser's device id for a Herald: random, kept in storage so every tab and every visit is
 * the same device; without storage, a new one per page (a device that leaves when the page does).
 */
function browserDevice(storage: ConnectOptions['storage'], base: URL): string {
  const key = `herald:${base.origin}:device`
  try {
    const known = storage?.getItem(key)
    if (known && /^[A-Za-z0-9._-]{1,64}$/.test(known)) return known
  } catch {
    // denied: a device for this page only
  }
  const made = randomId()
  try {
    storage?.setItem(key, made)
  } catch {
    // full or denied: the same
  }
  return made
}

function randomId(): string {
  const bytes = new Uint8Array(12)
  globalThis.crypto.getRandomValues(bytes)
  return [...bytes].map((b) => b.toString(16).padStart(2, '0')).join('')
}

/**
 * The browser's IANA zone, if it names one: Herald refuses anything else with a 400, and a stream
 * must not fail for an odd system setting (`Etc/Unknown`, an offset), so that sends no `tz`.
 */
function browserTimeZone(): string | undefined {
  try {
    const zone = Intl.DateTimeFormat().resolvedOptions().timeZone
    return /^[A-Za-z][A-Za-z0-9_+-]*(\/[A-Za-z0-9_+-]+)*$/.test(zone) && zone !== 'Etc/Unknown' ? zone : undefined
  } catch {
    return undefined
  }
}

function safeLocalStorage(): Storage | null {
  try {
    return globalThis.localStorage ?? null
  } catch {
    return null // denied (sandboxed iframe, privacy settings)
  }
}
