// One stream per device, not per user: a user's laptop and phone both stay live (issue 14), on one
// instance and across instances, with PostgreSQL or Redis carrying the signals; presence says which
// devices are online, and leaves at once when a stream ends, or within two heartbeats when its
// instance dies without a word.
import { afterAll, beforeAll, describe, expect, test } from 'bun:test'
import { readConfig } from '../src/config'
import { startServer, type RunningServer } from '../src/http/server'
import { nextAlarm, quiet, ready, testHerald, type TestHerald } from './helpers/herald'
import { spawnEntry } from './helpers/process'
import { readSse, type SseReader } from './helpers/sse'

const MACHINE_REDIS = process.env.REDIS_URL ?? 'redis://127.0.0.1:6379'

let h: TestHerald
beforeAll(async () => {
  h = await testHerald('devices', { maxDevices: 3 })
})
afterAll(() => h[Symbol.asyncDispose]())

function open(server: { url: string }, userId: string, device?: string, extra = '') {
  const query = device === undefined ? `?lang=ko${extra}` : `?lang=ko&device=${encodeURIComponent(device)}${extra}`
  return fetch(`${server.url}/connection/${encodeURIComponent(userId)}${query}`)
}

async function stream(server: { url: string }, userId: string, device?: string, extra = '') {
  const res = await open(server, userId, device, extra)
  expect(res.status).toBe(200)
  const sub = readSse(res)
  return { sub, ready: await ready(sub) }
}

async function publish(server: { url: string }, userId: string, text: string) {
  const res = await fetch(`${server.url}/alarms`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ userId, messages: { ko: text } }),
  })
  expect(res.status).toBe(201)
  return (await res.json()) as { id: number; seq: number }
}

async function presence(server: { url: string }, userId: string) {
  const res = await fetch(`${server.url}/users/${encodeURIComponent(userId)}/presence`)
  expect(res.status).toBe(200)
  return (await res.json()) as { online: boolean; devices: { device: string | null; locale: string; openedAt: string }[] }
}

/** Polls presence until `ok` (bounded): presence is written a moment after `ready`, in a batch. */
async function presenceUntil(server: { url: string }, userId: string, ok: (p: Awaited<ReturnType<typeof presence>>) => boolean, ms = 5000) {
  const deadline = performance.now() + ms
  for (;;) {
    const now = await presence(server, userId)
    if (ok(now)) return now
    if (performance.now() > deadline) throw new Error(`presence never got there: ${JSON.stringify(now)}`)
    await Bun.sleep(20)
  }
}

const devicesOf = (p: { devices: { device: string | null }[] }) => p.devices.map((d) => d.device)

/** The next event that is not a badge update. */
async function nextNotBadge(sub: SseReader) {
  let event = await sub.nextEvent()
  while (event?.event === 'badge') event = await sub.nextEvent()
  return event
}

async function bothGet(subs: SseReader[], text: string) {
  for (const sub of subs) expect((await nextAlarm(sub)).message).toBe(text)
}

describe('devices on one instance', () => {
  test('two devices of one user both stay live and both receive every alarm and state change', async () => {
    const laptop = await stream(h, 'two-devices', 'laptop')
    const phone = await stream(h, 'two-devices', 'phone')
    expect([laptop.ready.device, phone.ready.device]).toEqual(['laptop', 'phone'])
    const first = await publish(h, 'two-devices', 'one')
    await publish(h, 'two-devices', 'two')
    await bothGet([laptop.sub, phone.sub], 'one')
    await bothGet([laptop.sub, phone.sub], 'two')
    await fetch(`${h.url}/users/two-devices/alarms/read`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ ids: [first.id] }) })
    for (const sub of [laptop.sub, phone.sub]) {
      let event = await sub.nextEvent()
      while (event?.event === 'badge') event = await sub.nextEvent()
      expect(event?.event).toBe('state')
    }
    await laptop.sub.cancel()
    await phone.sub.cancel()
  })

  test('each device resumes from its own Last-Event-ID', async () => {
    const a = await stream(h, 'resumers', 'a')
    const b = await stream(h, 'resumers', 'b')
    const one = await publish(h, 'resumers', 'one')
    await bothGet([a.sub, b.sub], 'one')
    b.sub.cancel()
    const two = await publish(h, 'resumers', 'two')
    expect((await nextAlarm(a.sub)).seq).toBe(two.seq)
    const back = await stream(h, 'resumers', 'b', `&since=${one.seq}`)
    expect(back.ready.since).toBe(one.seq)
    expect((await nextAlarm(back.sub)).seq).toBe(two.seq) // b missed it, and gets it now: once
    await a.sub.cancel()
    await back.sub.cancel()
  })

  test('a newer stream of the same device supersedes the older one; other devices are untouched', async () => {
    const older = await stream(h, 'same-device', 'tablet')
    const other = await stream(h, 'same-device', 'watch')
    const newer = await stream(h, 'same-device', 'tablet')
    const ended = await older.sub.nextEvent()
    expect(ended?.event).toBe('superseded')
    expect(JSON.parse(ended!.data!)).toEqual({ reason: 'newer-connection' })
    await publish(h, 'same-device', 'still here')
    await bothGet([newer.sub, other.sub], 'still here')
    await newer.sub.cancel()
    await other.sub.cancel()
  })

  test("the unnamed device keeps the seed's rule — a second plain stream supersedes the first — and never ends a named one", async () => {
    const named = await stream(h, 'seed-user', 'phone')
    const first = await stream(h, 'seed-user')
    expect(first.ready.device).toBeNull()
    const second = await stream(h, 'seed-user')
    expect((await first.sub.nextEvent())?.event).toBe('superseded')
    await publish(h, 'seed-user', 'both')
    await bothGet([named.sub, second.sub], 'both')
    await named.sub.cancel()
    await second.sub.cancel()
  })

  test('Herald-Device names the device too; ?device= wins over it', async () => {
    const byHeader = readSse(await fetch(`${h.url}/connection/headers-user?lang=ko`, { headers: { 'herald-device': 'from-header' } }))
    expect((await ready(byHeader)).device).toBe('from-header')
    const both = readSse(await fetch(`${h.url}/connection/headers-user?lang=ko&device=from-query`, { headers: { 'herald-device': 'from-header' } }))
    expect((await ready(both)).device).toBe('from-query')
    await byHeader.cancel()
    await both.cancel()
  })

  test.each([['a device of 65 characters', 'x'.repeat(65)], ['an empty one', ''], ['a space', 'my phone'], ['a slash', 'a/b'], ['non-ASCII', 'télé'], ['a control character', 'a\u0001b']])(
    '%s → 400 INVALID_DEVICE, and no stream opens',
    async (_, device) => {
      const res = await open(h, 'bad-device', device)
      expect(res.status).toBe(400)
      expect((await res.json()).error.code).toBe('INVALID_DEVICE')
      const byHeader = await fetch(`${h.url}/connection/bad-device?lang=ko`, { headers: { 'herald-device': encodeURIComponent(device) + '%' } })
      expect(byHeader.status).toBe(400)
      expect(h.herald.live.generationOf('bad-device')).toBeUndefined()
    },
  )

  test('past HERALD_MAX_DEVICES, the least recently opened device is superseded with too-many-devices', async () => {
    const [a, b, c] = [await stream(h, 'many', 'a'), await stream(h, 'many', 'b'), await stream(h, 'many', 'c')]
    await presenceUntil(h, 'many', (p) => p.devices.length === 3)
    const d = await stream(h, 'many', 'd')
    const ended = await a.sub.nextEvent()
    expect(ended?.event).toBe('superseded')
    expect(JSON.parse(ended!.data!)).toEqual({ reason: 'too-many-devices' })
    expect(devicesOf(await presenceUntil(h, 'many', (p) => p.devices.length === 3))).toEqual(['b', 'c', 'd'])
    await publish(h, 'many', 'the three')
    await bothGet([b.sub, c.sub, d.sub], 'the three')
    for (const s of [b, c, d]) await s.sub.cancel()
  })
})

describe('presence', () => {
  test('says which devices are online, with their locale and when they opened; a stream that ends leaves at once', async () => {
    expect(await presence(h, 'present')).toEqual({ online: false, devices: [] })
    const phone = await stream(h, 'present', 'phone')
    const plain = await stream(h, 'present')
    const now = await presenceUntil(h, 'present', (p) => p.devices.length === 2)
    expect(now.online).toBe(true)
    expect(devicesOf(now)).toEqual(['phone', null])
    expect(now.devices[0]!.locale).toBe('ko')
    expect(Date.parse(now.devices[0]!.openedAt)).toBeGreaterThan(Date.now() - 60_000)
    await phone.sub.cancel()
    await plain.sub.cancel()
    expect(await presenceUntil(h, 'present', (p) => !p.online)).toEqual({ online: false, devices: [] })
  })

  test('a superseded stream does not take its device out of presence: the newer one holds it', async () => {
    const first = await stream(h, 'handover', 'laptop')
    await presenceUntil(h, 'handover', (p) => p.devices.length === 1)
    const second = await stream(h, 'handover', 'laptop')
    expect((await first.sub.nextEvent())?.event).toBe('superseded')
    await Bun.sleep(0)
    const after = await presenceUntil(h, 'handover', (p) => p.devices.length === 1)
    expect(devicesOf(after)).toEqual(['laptop'])
    await second.sub.cancel()
  })

  test('another user may not see it: 403 with their token (and a publish key may)', async () => {
    const SECRET = 'a-presence-test-secret-of-32-bytes-or-more'
    const KEY = 'presence-publish-key-0123456789'
    await using guarded = await testHerald('presence_auth', { jwtSecret: SECRET, publishKeys: [KEY] })
    const { SignJWT } = await import('jose')
    const token = await new SignJWT({}).setProtectedHeader({ alg: 'HS256' }).setSubject('mallory').setExpirationTime('5m').sign(new TextEncoder().encode(SECRET))
    expect((await fetch(`${guarded.url}/users/alice/presence`, { headers: { authorization: `Bearer ${token}` } })).status).toBe(403)
    expect((await fetch(`${guarded.url}/users/alice/presence`)).status).toBe(401)
    expect((await fetch(`${guarded.url}/users/alice/presence`, { headers: { authorization: `Bearer ${KEY}` } })).status).toBe(200)
  })
})

describe.each([
  ['PostgreSQL', {}],
  ['Redis', { redisUrl: MACHINE_REDIS }],
])('devices across two instances (%s signals)', (_, signals) => {
  let a: TestHerald
  let b: RunningServer
  beforeAll(async () => {
    const prefix = `herald-test-${crypto.randomUUID()}:`
    a = await testHerald('devices_two', { ...signals, redisPrefix: prefix, maxDevices: 2 })
    const config = { ...readConfig({}), databaseUrl: a.db.url, port: 0, hostname: '127.0.0.1' }
    b = await startServer(config, { log: quiet, overrides: { safetyPollMs: 0, ...signals, redisPrefix: prefix, maxDevices: 2 } })
  })
  afterAll(async () => {
    await b.stop()
    await a[Symbol.asyncDispose]()
  })

  test('a device on A and one on B both receive every alarm; the same device on B supersedes it on A', async () => {
    const onA = await stream(a, 'across', 'laptop')
    const onB = await stream(b, 'across', 'phone')
    await publish(a, 'across', 'one')
    await publish(b, 'across', 'two')
    await bothGet([onA.sub, onB.sub], 'one')
    await bothGet([onA.sub, onB.sub], 'two')
    const laptopOnB = await stream(b, 'across', 'laptop')
    expect((await nextNotBadge(onA.sub))?.event).toBe('superseded')
    await publish(a, 'across', 'three')
    await bothGet([onB.sub, laptopOnB.sub], 'three')
    expect(devicesOf(await presenceUntil(a, 'across', (p) => p.devices.length === 2)).sort()).toEqual(['laptop', 'phone'])
    await onB.sub.cancel()
    await laptopOnB.sub.cancel()
  })

  test('the device cap holds across instances: a third device on B supersedes the oldest, on A', async () => {
    const first = await stream(a, 'capped', 'one')
    await stream(b, 'capped', 'two')
    await presenceUntil(b, 'capped', (p) => p.devices.length === 2)
    await stream(b, 'capped', 'three')
    const ended = await first.sub.nextEvent()
    expect(JSON.parse(ended!.data!)).toEqual({ reason: 'too-many-devices' })
  })
})

describe('presence when an instance stops', () => {
  test('SIGTERM: its devices leave presence at once; SIGKILL: within two heartbeat intervals', async () => {
    await using db = await testHerald('devices_procs', { heartbeatMs: 200 })
    const base = { ...process.env, DATABASE_URL: db.db.url, PORT: '0', HOST: '127.0.0.1', HERALD_HEARTBEAT_MS: '200' }
    const gentle = spawnEntry('src/cli/main.ts', { env: base })
    const brutal = spawnEntry('src/cli/main.ts', { env: base })
    try {
      const [g, k] = [await gentle.listening(), await brutal.listening()]
      await stream(g, 'leaver', 'terminated')
      await stream(k, 'leaver', 'killed')
      await stream(db, 'leaver', 'stays')
      await presenceUntil(db, 'leaver', (p) => p.devices.length === 3)
      expect(await gentle.stop()).toBe(0)
      expect(devicesOf(await presence(db, 'leaver')).sort()).toEqual(['killed', 'stays'])
      brutal.proc.kill('SIGKILL')
      await brutal.proc.exited
      const killedAt = performance.now()
      await presenceUntil(db, 'leaver', (p) => p.devices.length === 1, 2000)
      expect(performance.now() - killedAt).toBeLessThan(2 * 200 + 300) // two heartbeat intervals, and a poll
      expect(devicesOf(await presence(db, 'leaver'))).toEqual(['stays'])
    } finally {
      await Promise.all([gentle.stop(), brutal.stop()])
    }
  }, 30_000)
})
