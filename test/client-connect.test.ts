// connect() carrying out its decisions (test/client-decide.test.ts has the decisions themselves), in
// one tab against a fake Herald (test/helpers/client.ts): what it asks for, what it reports, when.
import { afterEach, describe, expect, test } from 'bun:test'
import { connect, type Connection, type ConnectOptions, type Events } from '../client/herald-client'
import type { HeraldErrorEvent } from '../client/herald-client'
import { createFakeHerald, errorReply } from './helpers/client'

const KEY = 'herald:http://herald.test:tiaz'

let undo: (() => void) | undefined
const open: Connection[] = []
afterEach(() => {
  for (const c of open.splice(0)) c.close()
  undo?.()
  undo = undefined
})

function start(options: Partial<ConnectOptions> = {}) {
  const herald = createFakeHerald()
  undo?.() // a second start() in one test: restore the real fetch first, so afterEach restores that one
  undo = herald.install()
  const c = connect({ url: 'http://herald.test', userId: 'tiaz', lang: 'en', shared: false, storage: null, ...options })
  open.push(c)
  const errors: HeraldErrorEvent[] = []
  const states: string[] = []
  c.on('error', (e) => errors.push(e))
  c.on('state', (s) => states.push(s.state))
  return { c, herald, errors, states }
}

function when<K extends keyof Events>(c: Connection, type: K, ok: (event: Events[K]) => boolean = () => true) {
  const { promise, resolve } = Promise.withResolvers<Events[K]>()
  const off = c.on(type, (event) => {
    if (!ok(event)) return
    off()
    resolve(event)
  })
  return promise
}

function memoryStorage(entries: Record<string, string> = {}) {
  const map = new Map(Object.entries(entries))
  return { getItem: (k: string) => map.get(k) ?? null, setItem: (k: string, v: string) => void map.set(k, v), map }
}

test('a page reload resumes after the last id kept in storage, per Herald URL and user', async () => {
  const storage = memoryStorage({ [KEY]: '5' })
  const first = start({ storage })
  const stream = await first.herald.nextStream()
  expect(stream.url.searchParams.get('since')).toBe('5')
  stream.ready('en', 5)
  stream.alarm(6)
  await when(first.c, 'alarm')
  expect(storage.map.get(KEY)).toBe('6')
  first.c.close()

  const reloaded = start({ storage })
  expect((await reloaded.herald.nextStream()).url.searchParams.get('since')).toBe('6')
})

test('storage: null keeps no last id: a new page starts from now', async () => {
  const { herald } = start({ storage: null })
  expect((await herald.nextStream()).url.searchParams.has('since')).toBe(false)
})

test('401 with a token function: one fresh token and a retry; a second 401 is fatal and closes', async () => {
  let issued = 0
  const { c, herald, errors, states } = start({ token: () => `token-${++issued}` })
  herald.reply(errorReply(401, 'UNAUTHORIZED'), errorReply(401, 'UNAUTHORIZED'))
  await when(c, 'state', (s) => s.state === 'closed')
  expect(herald.requests.map((r) => r.headers.get('authorization'))).toEqual(['Bearer token-1', 'Bearer token-2'])
  expect(errors.map((e) => [e.code, e.status, e.fatal])).toEqual([
    ['UNAUTHORIZED', 401, false],
    ['UNAUTHORIZED', 401, true],
  ])
  expect(states).toEqual(['connecting', 'reconnecting', 'closed'])
})

test('a 401 after a stream opened gets a fresh token again (one per 401 in a row, not per connection)', async () => {
  let issued = 0
  const { c, herald } = start({ token: () => `token-${++issued}`, backoff: { initialMs: 10 } })
  herald.reply(errorReply(401, 'UNAUTHORIZED'))
  const opened = await herald.nextStream()
  opened.ready('en', 0)
  await when(c, 'state', (s) => s.state === 'open')
  herald.reply(errorReply(401, 'UNAUTHORIZED'))
  const again = herald.nextStream()
  opened.end() // a server going away without a planned retry: backoff, then the 401
  const next = await again
  expect(next.headers.get('authorization')).toBe('Bearer token-3')
  expect(c.state).not.toBe('closed')
})

test('401 without a token function: fatal, state closed', async () => {
  const { c, herald, errors } = start({ token: 'fixed' })
  herald.reply(errorReply(401, 'UNAUTHORIZED'))
  await when(c, 'state', (s) => s.state === 'closed')
  expect(errors).toEqual([{ code: 'UNAUTHORIZED', message: 'UNAUTHORIZED (test)', status: 401, fatal: true }])
  expect(herald.requests).toHaveLength(1)
})

test('another 4xx: an error event with fatal: true, state closed, no retry', async () => {
  const { c, herald, errors, states } = start()
  herald.reply(errorReply(403, 'FORBIDDEN'))
  await when(c, 'state', (s) => s.state === 'closed')
  expect(errors).toEqual([{ code: 'FORBIDDEN', message: 'FORBIDDEN (test)', status: 403, fatal: true }])
  expect(states).toEqual(['connecting', 'closed'])
  expect(herald.requests).toHaveLength(1)
})

test('429 waits as long as Retry-After says, reporting it, then retries', async () => {
  const { c, herald, errors } = start()
  herald.reply(errorReply(429, 'RATE_LIMITED', { 'retry-after': '1' }))
  const waiting = await when(c, 'state', (s) => s.state === 'reconnecting')
  expect(waiting.retryInMs).toBe(1000)
  expect(errors).toEqual([{ code: 'RATE_LIMITED', message: 'RATE_LIMITED (test)', status: 429, fatal: false }])
  ;(await herald.nextStream()).ready('en', 0)
  await when(c, 'state', (s) => s.state === 'open')
})

test('a network error reports NETWORK, backs off from backoff.initialMs, and resumes after the last id', async () => {
  const { c, herald, errors } = start({ backoff: { initialMs: 40 } })
  const first = await herald.nextStream()
  first.ready('en', 3)
  await when(c, 'state', (s) => s.state === 'open')
  herald.reply(new TypeError('fetch failed'))
  const waits: number[] = []
  c.on('state', (s) => s.state === 'reconnecting' && waits.push(s.retryInMs!))
  first.end()
  const next = await herald.nextStream()
  expect(next.url.searchParams.get('since')).toBe('3')
  expect(errors).toEqual([{ code: 'NETWORK', message: 'TypeError: fetch failed', fatal: false }])
  // The end of the stream, then the failed fetch: the second wait's ceiling is twice the first's.
  expect(waits).toHaveLength(2)
  expect(waits[0]).toBeWithin(20, 41)
  expect(waits[1]).toBeWithin(40, 81)
})

test('a graceful shutdown’s retry: (sent after ready) is waited as given', async () => {
  const { c, herald } = start()
  const first = await herald.nextStream()
  first.ready('en', 0)
  await when(c, 'state', (s) => s.state === 'open')
  const waiting = when(c, 'state', (s) => s.state === 'reconnecting')
  first.send('retry: 25\n\n')
  first.end()
  expect((await waiting).retryInMs).toBe(25)
  await herald.nextStream()
})

test('expired with a token function: a fresh token and an immediate resume; without one: state expired', async () => {
  let issued = 0
  const renewing = start({ token: () => `token-${++issued}` })
  const first = await renewing.herald.nextStream()
  first.ready('en', 0)
  first.alarm(1)
  await when(renewing.c, 'alarm')
  first.send('event: expired\ndata: {}\n\n')
  const next = await renewing.herald.nextStream()
  expect(next.headers.get('authorization')).toBe('Bearer token-2')
  expect(next.url.searchParams.get('since')).toBe('1')
  expect(renewing.states).not.toContain('reconnecting')
  renewing.c.close()

  const fixed = start({ token: 'fixed' })
  const only = await fixed.herald.nextStream()
  only.ready('en', 0)
  only.send('event: expired\ndata: {}\n\n')
  await when(fixed.c, 'state', (s) => s.state === 'expired')
  expect(fixed.herald.requests).toHaveLength(1)
})

test('superseded: state superseded, the stream not reopened', async () => {
  const { c, herald } = start()
  const first = await herald.nextStream()
  first.ready('en', 0)
  first.superseded()
  await when(c, 'state', (s) => s.state === 'superseded')
  expect(herald.requests).toHaveLength(1)
  expect(c.state).toBe('superseded')
})

test('a language switch reopens at once with the new lang, after the last id, with no wait', async () => {
  const { c, herald, states } = start()
  const first = await herald.nextStream()
  first.ready('en', 0)
  first.alarm(4)
  await when(c, 'alarm')
  const next = herald.nextStream()
  c.setLang('ja')
  const reopened = await next
  expect([reopened.url.searchParams.get('lang'), reopened.url.searchParams.get('since')]).toEqual(['ja', '4'])
  expect(states).toEqual(['connecting', 'open', 'connecting'])
})

test('a frame it cannot read is reported and skipped: no reconnect, and the alarms after it arrive', async () => {
  const storage = memoryStorage()
  const { c, herald, errors, states } = start({ storage })
  const seqs: number[] = []
  c.on('alarm', (a) => void seqs.push(a.seq))
  const stream = await herald.nextStream()
  stream.ready('en', 0)
  stream.alarm(1)
  stream.send('id: 2\nevent: alarm\ndata: {"id":2,"seq":2,"locale":undefined,"message":undefined}\n\n')
  stream.alarm(3)
  await when(c, 'alarm', (a) => a.seq === 3)
  expect(seqs).toEqual([1, 3])
  expect(errors.map((e) => [e.code, e.fatal])).toEqual([['MALFORMED_EVENT', false]])
  expect(herald.requests).toHaveLength(1) // still the first stream
  expect(states).not.toContain('reconnecting')
  expect(storage.map.get(KEY)).toBe('3')
})

test('after a frame it cannot read, a reconnect resumes past it', async () => {
  const { c, herald } = start()
  const first = await herald.nextStream()
  first.ready('en', 0)
  first.send('id: 7\nevent: alarm\ndata: not json\n\n')
  await when(c, 'error', (e) => e.code === 'MALFORMED_EVENT')
  first.end()
  expect((await herald.nextStream()).url.searchParams.get('since')).toBe('7')
})

describe('the inbox through the client', () => {
  test('the badge comes with ready and with every badge event; changes are delivered once, in the one sequence', async () => {
    const storage = memoryStorage()
    const { c, herald } = start({ storage })
    const badges: unknown[] = []
    const changes: unknown[] = []
    c.on('badge', (b) => void badges.push(b))
    c.on('change', (ch) => void changes.push(ch))
    const stream = await herald.nextStream()
    stream.send('event: ready\ndata: {"locale":"en","since":4,"badge":{"unread":2,"unseen":3}}\n\n')
    await when(c, 'badge')
    expect(c.badge).toEqual({ unread: 2, unseen: 3 })
    stream.send('id: 5\nevent: state\ndata: {"seq":5,"change":"read","ids":[41]}\n\n')
    stream.send('id: 5\nevent: state\ndata: {"seq":5,"change":"read","ids":[41]}\n\n') // a repeat: dropped
    stream.send('event: badge\ndata: {"unread":1,"unseen":3}\n\n')
    await when(c, 'badge', (b) => b.unread === 1)
    expect(changes).toEqual([{ seq: 5, change: 'read', ids: [41] }])
    expect(badges).toEqual([{ unread: 2, unseen: 3 }, { unread: 1, unseen: 3 }])
    expect(c.lastId).toBe(5)
    expect(storage.map.get(KEY)).toBe('5') // a state change moves the resume point as an alarm does
  })

  test('deleted is delivered once, in the log by its own id (not the alarm seq), and remove() sends DELETE', async () => {
    const storage = memoryStorage()
    const { c, herald } = start({ storage, token: 'tok' })
    const deleted: unknown[] = []
    c.on('deleted', (d) => void deleted.push(d))
    const stream = await herald.nextStream()
    stream.ready('en', 0)
    stream.alarm(7)
    await when(c, 'alarm')
    stream.send('id: 9\nevent: deleted\ndata: {"id":70,"seq":7}\n\n')
    stream.send('id: 9\nevent: deleted\ndata: {"id":70,"seq":7}\n\n') // a repeat: dropped
    stream.send('event: deleted\ndata: {"id":71,"seq":8}\n\n') // no id: not in the log, skipped as malformed
    stream.send('event: badge\ndata: {"unread":0,"unseen":0}\n\n')
    await when(c, 'badge', (b) => b.unread === 0)
    expect(deleted).toEqual([{ id: 70, seq: 7 }])
    expect(c.lastId).toBe(9)
    expect(storage.map.get(KEY)).toBe('9')
    herald.reply(Response.json({ id: 70, seq: 7, badge: { unread: 0, unseen: 0 } }), errorReply(404, 'ALARM_NOT_FOUND'))
    expect(await c.remove(70)).toEqual({ id: 70, seq: 7, badge: { unread: 0, unseen: 0 } })
    const asked = herald.requests.at(-1)!
    expect([asked.method, asked.url.pathname, asked.headers.get('authorization')]).toEqual(['DELETE', '/users/tiaz/alarms/70', 'Bearer tok'])
    await expect(c.remove(70)).rejects.toMatchObject({ code: 'ALARM_NOT_FOUND', status: 404 })
  })

  test("markRead('all') sends upTo = the newest seq the client has seen; ids and upTo go as given", async () => {
    const { c, herald } = start()
    const stream = await herald.nextStream()
    stream.ready('en', 0)
    stream.alarm(7)
    await when(c, 'alarm')
    const bodies: unknown[] = []
    const original = globalThis.fetch
    globalThis.fetch = (async (input: string | URL | Request, init?: RequestInit) => {
      const url = new URL(String(input))
      bodies.push([init?.method, url.pathname, JSON.parse(String(init?.body))])
      return Response.json({ changed: 1, badge: { unread: 0, unseen: 1 } })
    }) as typeof fetch
    try {
      expect(await c.markRead('all')).toEqual({ changed: 1, badge: { unread: 0, unseen: 1 } })
      await c.markSeen([7, 8])
      await c.archive({ upTo: 3 })
    } finally {
      globalThis.fetch = original
    }
    expect(bodies).toEqual([
      ['POST', '/users/tiaz/alarms/read', { upTo: 7 }],
      ['POST', '/users/tiaz/alarms/seen', { ids: [7, 8] }],
      ['POST', '/users/tiaz/alarms/archive', { upTo: 3 }],
    ])
  })

  test("history asks in the connection's language with its token; Herald's error rejects with its code", async () => {
    const { c, herald } = start({ token: 'tok', lang: 'ko' })
    await herald.nextStream()
    herald.reply(Response.json({ items: [], next: null, badge: { unread: 0, unseen: 0 } }), errorReply(404, 'ALARM_NOT_FOUND'))
    expect(await c.history({ status: 'unread', before: 9, limit: 5 })).toEqual({ items: [], next: null, badge: { unread: 0, unseen: 0 } })
    const asked = herald.requests.at(-1)!
    expect(asked.url.pathname).toBe('/users/tiaz/alarms')
    expect(Object.fromEntries(asked.url.searchParams)).toEqual({
      status: 'unread',
      before: '9',
      limit: '5',
      lang: 'ko',
      tz: Intl.DateTimeFormat().resolvedOptions().timeZone,
    })
    expect(asked.headers.get('authorization')).toBe('Bearer tok')
    await expect(c.markRead([99])).rejects.toMatchObject({ code: 'ALARM_NOT_FOUND', status: 404 })
  })
})

describe('devices', () => {
  test('by default one random device id per browser, kept in storage: every tab and visit streams as it', async () => {
    const storage = memoryStorage()
    const first = start({ storage })
    const id = (await first.herald.nextStream()).url.searchParams.get('device')
    expect(id).toMatch(/^[0-9a-f]{24}$/)
    expect(first.c.device).toBe(id!)
    first.c.close()
    const again = start({ storage })
    expect((await again.herald.nextStream()).url.searchParams.get('device')).toBe(id)
  })

  test("device: 'x' names it; device: null names none (the user's unnamed device, as a plain EventSource)", async () => {
    const named = start({ device: 'kiosk-3' })
    expect((await named.herald.nextStream()).url.searchParams.get('device')).toBe('kiosk-3')
    named.c.close()
    const plain = start({ device: null })
    expect((await plain.herald.nextStream()).url.searchParams.has('device')).toBe(false)
    expect(plain.c.device).toBeUndefined()
  })

  test('superseded because of too many devices is reported as such, and the client stays stopped', async () => {
    const { c, herald, states } = start()
    const stream = await herald.nextStream()
    stream.ready('en', 0)
    await when(c, 'state', (s) => s.state === 'open')
    stream.send('retry: 86400000\nevent: superseded\ndata: {"reason":"too-many-devices"}\n\n')
    const last = await when(c, 'state', (s) => s.state === 'superseded')
    expect(last.reason).toBe('too-many-devices')
    expect(states.at(-1)).toBe('superseded')
    expect(herald.requests).toHaveLength(1)
  })
})

test("the stream asks for the browser's time zone by default, a given one, or none", async () => {
  const browserZone = Intl.DateTimeFormat().resolvedOptions().timeZone
  expect((await start().herald.nextStream()).url.searchParams.get('tz')).toBe(browserZone)
  expect((await start({ timeZone: 'Asia/Seoul' }).herald.nextStream()).url.searchParams.get('tz')).toBe('Asia/Seoul')
  expect((await start({ timeZone: null }).herald.nextStream()).url.searchParams.has('tz')).toBe(false)
})

test('since: the first stream starts there, not at the stored last id; reconnects resume from what arrived', async () => {
  const storage = memoryStorage({ [KEY]: '9' })
  const { c, herald } = start({ storage, since: 0 })
  const first = await herald.nextStream()
  expect(first.url.searchParams.get('since')).toBe('0')
  first.ready('en', 0)
  first.alarm(1)
  await when(c, 'alarm')
  first.end()
  expect((await herald.nextStream()).url.searchParams.get('since')).toBe('1')
  expect(storage.map.get(KEY)).toBe('9') // never moved back
})
