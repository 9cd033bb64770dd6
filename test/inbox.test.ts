// The inbox: history pages, marks, the badge, and state changes carried in the exactly-once stream.
import { afterAll, beforeAll, describe, expect, test } from 'bun:test'
import fc from 'fast-check'
import postgres from 'postgres'
import { readConfig } from '../src/config'
import { startServer, type RunningServer } from '../src/http/server'
import { nextAlarm, quiet, ready, testHerald, type TestHerald } from './helpers/herald'
import type { SseReader } from './helpers/sse'

let h: TestHerald
let writer: postgres.Sql
beforeAll(async () => {
  h = await testHerald('inbox')
  writer = postgres(h.db.url, { max: 4, onnotice: () => {} })
})
afterAll(async () => {
  await writer.end()
  await h[Symbol.asyncDispose]()
})

type Badge = { unread: number; unseen: number }

async function publish(target: { url: string }, userId: string, text = 'hello', extra: object = {}) {
  const res = await fetch(`${target.url}/alarms`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ userId, messages: { en: text, ko: `ko ${text}` }, ...extra }),
  })
  if (res.status !== 201) throw new Error(`publish: ${res.status} ${await res.text()}`)
  return (await res.json()) as { id: number; seq: number }
}

function mark(target: { url: string }, userId: string, kind: string, body: unknown, headers: Record<string, string> = {}) {
  return fetch(`${target.url}/users/${encodeURIComponent(userId)}/alarms/${kind}`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', ...headers },
    body: typeof body === 'string' ? body : JSON.stringify(body),
  })
}

function history(target: { url: string }, userId: string, query = '', headers: Record<string, string> = {}) {
  return fetch(`${target.url}/users/${encodeURIComponent(userId)}/alarms${query}`, { headers })
}

async function badgeInSql(userId: string): Promise<Badge> {
  const [row] = await h.db.sql<Badge[]>`
    select count(*) filter (where read_at is null and archived_at is null)::int as unread,
           count(*) filter (where seen_at is null and archived_at is null)::int as unseen
    from alarms where user_id = ${userId}`
  return row!
}

/** The next event that is not an alarm's badge update, with its data parsed. */
async function nextOf(sub: SseReader, kind: string) {
  const event = await sub.nextEvent()
  if (event?.event !== kind) throw new Error(`expected ${kind}, got ${event?.raw ?? 'the end'}`)
  return { id: event.id, data: JSON.parse(event.data!) }
}

describe('GET /users/:userId/alarms (history)', () => {
  test('newest first, in the negotiated language, with state and the badge; next pages backwards', async () => {
    const published = []
    for (let i = 1; i <= 5; i++) published.push(await publish(h, 'reader', `n${i}`))
    const res = await history(h, 'reader', '?limit=2&lang=ko')
    expect(res.status).toBe(200)
    expect(res.headers.get('content-language')).toBe('ko')
    const page = await res.json()
    expect(page.items.map((item: { message: string }) => item.message)).toEqual(['ko n5', 'ko n4'])
    expect(Object.keys(page.items[0]).sort()).toEqual(
      ['archivedAt', 'createdAt', 'data', 'id', 'locale', 'message', 'readAt', 'seenAt', 'seq'].sort(),
    )
    expect(page.items[0]).toMatchObject({ id: published[4]!.id, seq: published[4]!.seq, locale: 'ko', readAt: null, seenAt: null, archivedAt: null })
    expect(page.next).toBe(published[3]!.seq)
    expect(page.badge).toEqual({ unread: 5, unseen: 5 })
    const rest = await (await history(h, 'reader', `?limit=2&before=${page.next}`, { 'accept-language': 'en' })).json()
    expect(rest.items.map((item: { message: string }) => item.message)).toEqual(['n3', 'n2'])
    const last = await (await history(h, 'reader', `?limit=2&before=${rest.next}`)).json()
    expect(last.items.map((item: { message: string }) => item.message)).toEqual(['n1'])
    expect(last.next).toBeNull()
  })

  test('status filters: inbox (not archived), unread, unseen, archived, all', async () => {
    const [a, b, c] = [await publish(h, 'filters', 'a'), await publish(h, 'filters', 'b'), await publish(h, 'filters', 'c')]
    await mark(h, 'filters', 'read', { ids: [a.id] })
    await mark(h, 'filters', 'seen', { ids: [b.id] })
    await mark(h, 'filters', 'archive', { ids: [c.id] })
    const seqsOf = async (status: string) =>
      ((await (await history(h, 'filters', `?status=${status}`)).json()).items as { seq: number }[]).map((item) => item.seq)
    expect(await seqsOf('inbox')).toEqual([b.seq, a.seq])
    expect(await seqsOf('unread')).toEqual([b.seq])
    expect(await seqsOf('unseen')).toEqual([a.seq])
    expect(await seqsOf('archived')).toEqual([c.seq])
    expect(await seqsOf('all')).toEqual([c.seq, b.seq, a.seq])
    const archived = (await (await history(h, 'filters', '?status=archived')).json()).items[0]
    expect(typeof archived.archivedAt).toBe('string')
  })

  test('a user with no alarms has an empty first page and a zero badge', async () => {
    expect(await (await history(h, 'nobody-yet')).json()).toEqual({ items: [], next: null, badge: { unread: 0, unseen: 0 } })
  })

  test.each([
    ['?status=read', 'status'],
    ['?limit=0', 'limit'],
    ['?limit=101', 'limit'],
    ['?limit=ten', 'limit'],
    ['?before=-1', 'before'],
    ['?before=12abc', 'before'],
    ['?page=2', 'page'],
  ])('a bad parameter %s → 400 INVALID_QUERY naming it', async (query, parameter) => {
    const res = await history(h, 'reader', query)
    expect(res.status).toBe(400)
    const { error } = await res.json()
    expect(error.code).toBe('INVALID_QUERY')
    expect(error.message.startsWith(`${parameter}:`)).toBe(true)
  })

  test('a template alarm is rendered in the language and time zone asked for (tz), with its key', async () => {
    const put = await fetch(`${h.url}/templates/inbox.reminder`, {
      method: 'PUT',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ messages: { en: 'Due {at, time, short}', ko: '{at, time, short}까지' } }),
    })
    expect(put.status).toBe(201)
    const res = await fetch(`${h.url}/alarms`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ userId: 'templated-reader', template: 'inbox.reminder', params: { at: '2026-12-12T10:30:00Z' } }),
    })
    expect(res.status).toBe(201)
    const seoul = (await (await history(h, 'templated-reader', '?lang=en&tz=Asia/Seoul')).json()).items[0]
    expect(seoul).toMatchObject({ locale: 'en', message: 'Due 7:30 PM', template: 'inbox.reminder', readAt: null })
    const utc = (await (await history(h, 'templated-reader', '?lang=ko')).json()).items[0]
    expect(utc.message).toBe('오전 10:30까지')
    const bad = await history(h, 'templated-reader', '?tz=%2B09:00')
    expect(bad.status).toBe(400)
    expect((await bad.json()).error.code).toBe('INVALID_TIME_ZONE')
  })

  test('a bad lang → 400 INVALID_LOCALE; a bad userId → 400 INVALID_USER_ID', async () => {
    expect((await (await history(h, 'reader', '?lang=US-en')).json()).error.code).toBe('INVALID_LOCALE')
    expect((await (await fetch(`${h.url}/users/%E0%A4%A/alarms`)).json()).error.code).toBe('INVALID_USER_ID')
  })
})

describe('POST /users/:userId/alarms/{read|unread|seen|archive|unarchive}', () => {
  test('marks by ids: what changed and the badge; marking what is already so changes nothing', async () => {
    const [a, b] = [await publish(h, 'marker'), await publish(h, 'marker')]
    const first = await mark(h, 'marker', 'read', { ids: [a.id, b.id, a.id] })
    expect(first.status).toBe(200)
    expect(await first.json()).toEqual({ changed: 2, badge: { unread: 0, unseen: 2 } })
    expect(await (await mark(h, 'marker', 'read', { ids: [a.id] })).json()).toEqual({ changed: 0, badge: { unread: 0, unseen: 2 } })
    expect(await (await mark(h, 'marker', 'unread', { ids: [b.id] })).json()).toEqual({ changed: 1, badge: { unread: 1, unseen: 2 } })
    expect(await (await mark(h, 'marker', 'seen', { all: true })).json()).toEqual({ changed: 2, badge: { unread: 1, unseen: 0 } })
    expect(await (await mark(h, 'marker', 'archive', { ids: [b.id] })).json()).toEqual({ changed: 1, badge: { unread: 0, unseen: 0 } })
    expect(await (await mark(h, 'marker', 'unarchive', { ids: [b.id] })).json()).toEqual({ changed: 1, badge: { unread: 1, unseen: 0 } })
    expect(await badgeInSql('marker')).toEqual({ unread: 1, unseen: 0 })
  })

  test("an id that is not this user's alarm → 404 ALARM_NOT_FOUND naming it, and nothing is changed", async () => {
    const mine = await publish(h, 'owner')
    const theirs = await publish(h, 'someone-else')
    const res = await mark(h, 'owner', 'read', { ids: [mine.id, theirs.id] })
    expect(res.status).toBe(404)
    const { error } = await res.json()
    expect(error.code).toBe('ALARM_NOT_FOUND')
    expect(error.message).toContain(String(theirs.id))
    expect(await badgeInSql('owner')).toEqual({ unread: 1, unseen: 1 })
    const [row] = await h.db.sql`select read_at from alarms where id = ${mine.id}`
    expect(row!.read_at).toBeNull()
    expect((await h.db.sql`select count(*)::int as n from user_events where user_id = 'owner'`)[0]!.n).toBe(0)
  })

  test('upTo marks every alarm up to that seq: one committing at the same moment stays unread', async () => {
    const sub = await h.subscribe('racer', { lang: 'en' })
    await ready(sub)
    const early = [await publish(h, 'racer'), await publish(h, 'racer')]
    const upTo = early[1]!.seq
    // The new alarm and the mark race; whichever commits first, the new one is past upTo.
    const [late, marked] = await Promise.all([publish(h, 'racer', 'late'), mark(h, 'racer', 'read', { upTo })])
    expect(late.seq).toBeGreaterThan(upTo)
    expect((await marked.json()).changed).toBe(2)
    const [row] = await h.db.sql`select read_at from alarms where id = ${late.id}`
    expect(row!.read_at).toBeNull()
    expect(await badgeInSql('racer')).toEqual({ unread: 1, unseen: 3 })
    await sub.cancel()
  })

  test.each([
    ['two targets', { ids: [1], all: true }],
    ['no target', {}],
    ['an unknown field', { everything: true }],
    ['empty ids', { ids: [] }],
    ['too many ids', { ids: Array.from({ length: 1001 }, (_, i) => i + 1) }],
    ['a string id', { ids: ['1'] }],
    ['a zero id', { ids: [0] }],
    ['a fractional upTo', { upTo: 1.5 }],
    ['a negative upTo', { upTo: -1 }],
    ['all false', { all: false }],
    ['an array body', [1, 2]],
  ])('%s → 400 INVALID_BODY naming the field, nothing changed', async (_, body) => {
    await publish(h, 'strict')
    const res = await mark(h, 'strict', 'read', body)
    expect(res.status).toBe(400)
    expect((await res.json()).error.code).toBe('INVALID_BODY')
    expect((await badgeInSql('strict')).unread).toBeGreaterThan(0)
    expect((await h.db.sql`select count(*)::int as n from user_events where user_id = 'strict'`)[0]!.n).toBe(0)
  })

  test('not JSON → 400 INVALID_JSON; not application/json → 415; an unknown mark → 405 (the path is an alarm\'s, for DELETE)', async () => {
    expect((await mark(h, 'strict', 'read', '{"ids":')).status).toBe(400)
    const plain = await fetch(`${h.url}/users/strict/alarms/read`, { method: 'POST', body: '{"all":true}' })
    expect(plain.status).toBe(415)
    const unknown = await mark(h, 'strict', 'delete-everything', { all: true })
    expect(unknown.status).toBe(405)
    expect(unknown.headers.get('allow')).toBe('DELETE')
  })
})

describe('in the stream', () => {
  test('ready carries the badge; an alarm is followed by the badge; a mark is a state event with its seq, then the badge', async () => {
    await publish(h, 'live')
    const sub = await h.subscribe('live', { lang: 'en' })
    expect((await ready(sub)).badge).toEqual({ unread: 1, unseen: 1 })
    const alarm = await publish(h, 'live')
    const frame = await nextOf(sub, 'alarm')
    expect(frame.id).toBe(String(alarm.seq))
    expect((await nextOf(sub, 'badge')).data).toEqual({ unread: 2, unseen: 2 })
    await mark(h, 'live', 'read', { ids: [alarm.id] })
    const state = await nextOf(sub, 'state')
    expect(Number(state.id)).toBe(alarm.seq + 1) // one sequence for alarms and state changes
    expect(state.data).toEqual({ seq: alarm.seq + 1, change: 'read', ids: [alarm.id] })
    const badge = await sub.nextEvent()
    expect(badge?.event).toBe('badge')
    expect(badge?.id).toBeUndefined() // it never moves the resume point
    expect(JSON.parse(badge!.data!)).toEqual({ unread: 1, unseen: 2 })
    await mark(h, 'live', 'seen', { upTo: alarm.seq })
    expect((await nextOf(sub, 'state')).data).toEqual({ seq: alarm.seq + 2, change: 'seen', upTo: alarm.seq })
    expect((await nextOf(sub, 'badge')).data).toEqual({ unread: 1, unseen: 0 })
    await mark(h, 'live', 'read', { all: true })
    expect((await nextOf(sub, 'state')).data).toEqual({ seq: alarm.seq + 3, change: 'read', upTo: alarm.seq - 1 })
    expect((await nextOf(sub, 'badge')).data).toEqual({ unread: 0, unseen: 0 })
    await sub.cancel()
  })

  test('a mark that changes nothing emits nothing (a later alarm is the next event)', async () => {
    const first = await publish(h, 'idempotent')
    await mark(h, 'idempotent', 'read', { ids: [first.id] })
    const sub = await h.subscribe('idempotent', { lang: 'en' })
    await ready(sub)
    expect((await (await mark(h, 'idempotent', 'read', { ids: [first.id] })).json()).changed).toBe(0)
    const later = await publish(h, 'idempotent')
    expect((await nextAlarm(sub)).seq).toBe(later.seq)
    await sub.cancel()
  })

  test('state events resume exactly once with Last-Event-ID across a disconnect', async () => {
    const alarms = [await publish(h, 'resumer'), await publish(h, 'resumer'), await publish(h, 'resumer')]
    const sub = await h.subscribe('resumer', { since: 0, lang: 'en' })
    await ready(sub)
    const seen: string[] = []
    const collect = async (reader: SseReader, until: number) => {
      while (seen.length < until) {
        const event = await reader.nextEvent()
        if (event?.event !== 'badge') seen.push(`${event?.event} ${event?.id}`)
      }
    }
    await mark(h, 'resumer', 'read', { ids: [alarms[0]!.id] })
    await collect(sub, 4) // three alarms, one state change
    const lastId = seen.at(-1)!.split(' ')[1]!
    sub.abort()
    // While disconnected: two more state changes and an alarm.
    await mark(h, 'resumer', 'seen', { ids: [alarms[1]!.id] })
    const fourth = await publish(h, 'resumer')
    await mark(h, 'resumer', 'archive', { ids: [alarms[2]!.id] })
    const again = await h.subscribe('resumer', { headers: { 'last-event-id': lastId }, lang: 'en' })
    await ready(again)
    await collect(again, 7)
    const base = alarms[0]!.seq
    expect(seen).toEqual([
      `alarm ${base}`,
      `alarm ${base + 1}`,
      `alarm ${base + 2}`,
      `state ${base + 3}`,
      `state ${base + 4}`,
      `alarm ${fourth.seq}`,
      `state ${base + 6}`,
    ])
    await again.cancel()
  })

  test('a direct SQL UPDATE is delivered and counted exactly as a mark through the API', async () => {
    const alarm = await publish(h, 'sql-reader')
    const sub = await h.subscribe('sql-reader', { lang: 'en' })
    await ready(sub)
    await writer`update alarms set read_at = now() where user_id = 'sql-reader' and id = ${alarm.id}`
    expect((await nextOf(sub, 'state')).data).toEqual({ seq: alarm.seq + 1, change: 'read', ids: [alarm.id] })
    expect((await nextOf(sub, 'badge')).data).toEqual({ unread: 0, unseen: 1 })
    await writer`update alarms set archived_at = now(), seen_at = now() where user_id = 'sql-reader'`
    // One statement, two changes: one event each, in a fixed order (seen before archive).
    expect((await nextOf(sub, 'state')).data).toEqual({ seq: alarm.seq + 2, change: 'seen', ids: [alarm.id] })
    expect((await nextOf(sub, 'state')).data).toEqual({ seq: alarm.seq + 3, change: 'archive', ids: [alarm.id] })
    expect(await badgeInSql('sql-reader')).toEqual({ unread: 0, unseen: 0 })
    await sub.cancel()
  })

  test('a direct writer cannot move an alarm to another user or another seq', async () => {
    const alarm = await publish(h, 'fixed')
    await expect(writer`update alarms set user_id = 'thief' where id = ${alarm.id}`).rejects.toMatchObject({ code: '23514' })
    await expect(writer`update alarms set seq = 999 where id = ${alarm.id}`).rejects.toMatchObject({ code: '23514' })
  })

  test('a mark committing late (its transaction began first) is still delivered once, in commit order', async () => {
    const [a, b] = [await publish(h, 'late-mark'), await publish(h, 'late-mark')]
    const sub = await h.subscribe('late-mark', { lang: 'en' })
    await ready(sub)
    const hold = Promise.withResolvers<void>()
    const updated = Promise.withResolvers<void>()
    const slow = writer.begin(async (tx) => {
      await tx`update alarms set read_at = now() where id = ${a.id}`
      updated.resolve()
      await hold.promise
    })
    await updated.promise
    const quick = mark(h, 'late-mark', 'read', { ids: [b.id] }) // waits for the user's row
    hold.resolve()
    await slow
    expect((await quick).status).toBe(200)
    const first = await nextOf(sub, 'state')
    const second = await sub.nextEvent().then((e) => (e?.event === 'badge' ? sub.nextEvent() : e))
    expect([first.data.ids, JSON.parse(second!.data!).ids]).toEqual([[a.id], [b.id]])
    expect(Number(second!.id)).toBe(Number(first.id) + 1)
    await sub.cancel()
  })

  test('every open stream of the user, on every instance, gets the state events', async () => {
    const config = { ...readConfig({}), databaseUrl: h.db.url, port: 0, hostname: '127.0.0.1' }
    const other: RunningServer = await startServer(config, { log: quiet, overrides: { safetyPollMs: 0 } })
    try {
      const alarm = await publish(h, 'two-places')
      const here = await h.subscribe('two-places', { lang: 'en' })
      await ready(here)
      const res = await fetch(`${other.url}/connection/two-places?lang=en`)
      const { readSse } = await import('./helpers/sse')
      const there = readSse(res)
      // The second stream supersedes the first (one per user today); a later issue gives devices.
      await ready(there)
      await mark(other, 'two-places', 'read', { ids: [alarm.id] })
      expect((await nextOf(there, 'state')).data.ids).toEqual([alarm.id])
      await there.cancel()
      await here.cancel()
    } finally {
      await other.stop()
    }
  })
})

describe('the badge is exact', () => {
  test('it equals the count in SQL after a storm of concurrent publishes and marks from two instances', async () => {
    const config = { ...readConfig({}), databaseUrl: h.db.url, port: 0, hostname: '127.0.0.1' }
    const other: RunningServer = await startServer(config, { log: quiet, overrides: { safetyPollMs: 0 } })
    const users = ['storm-a', 'storm-b', 'storm-c']
    const published = new Map<string, number[]>(users.map((user) => [user, []]))
    try {
      const op = fc.record({
        user: fc.constantFrom(...users),
        on: fc.constantFrom(h as { url: string }, other as { url: string }),
        kind: fc.constantFrom('publish', 'read', 'unread', 'seen', 'archive', 'unarchive'),
        target: fc.constantFrom('ids', 'upTo', 'all'),
        pick: fc.nat(),
      })
      await fc.assert(
        fc.asyncProperty(fc.array(op, { minLength: 5, maxLength: 30 }), async (ops) => {
          await Promise.all(
            ops.map(async ({ user, on, kind, target, pick }) => {
              const ids = published.get(user)!
              if (kind === 'publish' || ids.length === 0) return void ids.push((await publish(on, user)).id)
              const id = ids[pick % ids.length]!
              const body = target === 'ids' ? { ids: [id] } : target === 'upTo' ? { upTo: pick % 50 } : { all: true }
              const res = await mark(on, user, kind, body)
              if (res.status !== 200) throw new Error(`${kind} ${JSON.stringify(body)}: ${res.status} ${await res.text()}`)
            }),
          )
          for (const user of users) {
            const counted = await badgeInSql(user)
            const kept = (await (await history(h, user, '?limit=1')).json()).badge
            expect(kept).toEqual(counted)
          }
        }),
        { numRuns: 12 },
      )
    } finally {
      await other.stop()
    }
  }, 60_000)
})

describe('who may read or mark an inbox', () => {
  test("another user's token → 403; no token → 401; the user's own token or a publish key → 200", async () => {
    const SECRET = 'an-inbox-test-secret-of-at-least-32-bytes'
    const KEY = 'inbox-publish-key-0123456789'
    await using guarded = await testHerald('inbox_auth', { jwtSecret: SECRET, publishKeys: [KEY] })
    const { SignJWT } = await import('jose')
    const tokenFor = (sub: string) =>
      new SignJWT({}).setProtectedHeader({ alg: 'HS256' }).setSubject(sub).setExpirationTime('5m').sign(new TextEncoder().encode(SECRET))
    const bearer = async (sub: string) => ({ authorization: `Bearer ${await tokenFor(sub)}` })
    expect((await history(guarded, 'alice', '', await bearer('mallory'))).status).toBe(403)
    expect((await mark(guarded, 'alice', 'read', { all: true }, await bearer('mallory'))).status).toBe(403)
    expect((await history(guarded, 'alice')).status).toBe(401)
    expect((await mark(guarded, 'alice', 'read', { all: true })).status).toBe(401)
    expect((await history(guarded, 'alice', '', await bearer('alice'))).status).toBe(200)
    expect((await mark(guarded, 'alice', 'read', { all: true }, { authorization: `Bearer ${KEY}` })).status).toBe(200)
  })
})
