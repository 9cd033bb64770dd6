// The wake-up path: one LISTEN per process, batched queries, and the safety nets for missed
// notifications.
import { describe, expect, test } from 'bun:test'
import postgres from 'postgres'
import { nextAlarm, ready, testHerald, until } from './helpers/herald'
import { MAX_WAKE_PAYLOAD_BYTES, usersOf, wakePayloads } from '../src/signals/wake'
import { testDb } from './helpers/db'



async function insertFor(sql: postgres.Sql, users: string[], message: (user: string) => string) {
  await sql.begin(async (tx) => {
    for (const user of users) {
      const [a] = await tx`insert into alarms (user_id) values (${user}) returning id`
      await tx`insert into alarm_messages (alarm_id, locale, message) values (${a!.id}, 'ko', ${message(user)})`
    }
  })
}

describe('batching', () => {
  test('streams woken by one commit share a few queries and each gets its own alarms from its own cursor', async () => {
    await using h = await testHerald('wake_batch')
    const users = Array.from({ length: 60 }, (_, i) => `batch-${i}`)
    // Give each user a different history, and each stream a different cursor.
    for (const [i, user] of users.entries())
      for (let n = 0; n < i % 4; n++) await insertFor(h.db.sql, [user], () => `old-${n}`)
    const subs = await Promise.all(users.map((user, i) => h.subscribe(user, { lang: 'ko', since: i % 4 })))
    await Promise.all(subs.map(ready))
    const before = { ...h.herald.fetcher.stats }
    await insertFor(h.db.sql, users, (user) => `new for ${user}`)
    const got = await Promise.all(subs.map(nextAlarm))
    got.forEach((alarm, i) => {
      expect(alarm.message).toBe(`new for ${users[i]}`)
      expect(alarm.seq).toBe((i % 4) + 1)
    })
    const queries = h.herald.fetcher.stats.queries - before.queries
    const requests = h.herald.fetcher.stats.requests - before.requests
    expect(requests).toBeGreaterThanOrEqual(users.length)
    expect(queries).toBeLessThanOrEqual(5) // not one per stream
    await Promise.all(subs.map((sub) => sub.cancel()))
  })
})

describe('the pool', () => {
  test('runs with JIT off: a batched read of thousands of users would compile longer than it runs', async () => {
    await using db = await testDb('wake_jit')
    const settings = await Promise.all([1, 2, 3].map(() => db.sql.begin((tx) => tx<{ jit: string }[]>`show jit`)))
    expect(settings.map(([row]) => row!.jit)).toEqual(['off', 'off', 'off'])
  })
})

describe('reconnect storm', () => {
  test('many streams opening at once are positioned by a few queries, not one each', async () => {
    await using h = await testHerald('wake_storm')
    const users = Array.from({ length: 80 }, (_, i) => `storm-${i}`)
    for (const user of users.slice(0, 10)) await insertFor(h.db.sql, [user], () => 'history')
    const before = { ...h.herald.fetcher.stats }
    const subs = await Promise.all(users.map((user) => h.subscribe(user, { lang: 'ko' })))
    await Promise.all(subs.map(ready))
    // At least one request per stream; a late notification from the history inserts may add a few.
    expect(h.herald.fetcher.stats.requests - before.requests).toBeGreaterThanOrEqual(users.length)
    expect(h.herald.fetcher.stats.queries - before.queries).toBeLessThanOrEqual(10)
    // Positioned after their history: only what comes next is delivered.
    await insertFor(h.db.sql, [users[0]!], () => 'next')
    expect(await nextAlarm(subs[0]!)).toMatchObject({ seq: 2, message: 'next' })
    await Promise.all(subs.map((sub) => sub.cancel()))
  })
})

describe('missed notifications', () => {
  test('the safety poll delivers when no notification arrives', async () => {
    // Listening on a channel nobody notifies: every wake-up is "lost".
    await using h = await testHerald('wake_lost', { channel: 'herald_nowhere', safetyPollMs: 100 })
    const sub = await h.subscribe('lost', { lang: 'ko' })
    await ready(sub)
    await insertFor(h.db.sql, ['lost'], () => 'found by the safety net')
    expect((await nextAlarm(sub)).message).toBe('found by the safety net')
    await sub.cancel()
  })

  test('catch-up wakes only the streams that are behind, with one query', async () => {
    await using h = await testHerald('wake_catchup', { channel: 'herald_nowhere' })
    const subs = await Promise.all(['c1', 'c2', 'c3'].map((u) => h.subscribe(u, { lang: 'ko' })))
    await Promise.all(subs.map(ready))
    await insertFor(h.db.sql, ['c2'], () => 'only c2')
    expect(await h.herald.signals.catchUp()).toBe(1)
    expect((await nextAlarm(subs[1]!)).message).toBe('only c2')
    await Promise.all(subs.map((sub) => sub.cancel()))
  })

  test('a killed LISTEN connection reconnects and catches up: nothing is lost', async () => {
    await using h = await testHerald('wake_kill')
    const sub = await h.subscribe('survivor', { lang: 'ko' })
    await ready(sub)
    await insertFor(h.db.sql, ['survivor'], () => 'before')
    expect((await nextAlarm(sub)).message).toBe('before')
    const channel = `herald_${h.db.schema}`
    // Kill the listener and commit an alarm in the same transaction: its NOTIFY has nobody to reach.
    const killed = await h.db.sql.begin(async (tx) => {
      const rows = await tx`
        select pg_terminate_backend(pid) as killed from pg_stat_activity
        where query ilike ${'listen%' + channel + '%'}`
      const [a] = await tx`insert into alarms (user_id) values ('survivor') returning id`
      await tx`insert into alarm_messages (alarm_id, locale, message) values (${a!.id}, 'ko', 'while down')`
      return rows.length
    })
    expect(killed).toBe(1)
    expect((await nextAlarm(sub)).message).toBe('while down')
    await insertFor(h.db.sql, ['survivor'], () => 'after')
    expect((await nextAlarm(sub)).message).toBe('after')
    await sub.cancel()
  })
})

describe('one wake-up per statement', () => {
  const NOTIFY_LIMIT = 8000 // bytes: PostgreSQL refuses a payload this long or longer

  /** Every payload on the schema's wake-up channel, in arrival order (a LISTEN of the test's own). */
  async function listenToWakes(h: { db: { sql: postgres.Sql; schema: string } }) {
    const channel = `herald_${h.db.schema}`
    const payloads: string[] = []
    const { unlisten } = await h.db.sql.listen(channel, (payload) => payloads.push(payload))
    return {
      payloads,
      /** Resolves once a marker sent after everything else arrives: every earlier wake-up is in. */
      async settle() {
        const marker = `marker-${crypto.randomUUID()}`
        await h.db.sql`select pg_notify(${channel}, ${marker})`
        await until(() => payloads.includes(marker), 'the marker notification')
        payloads.splice(payloads.indexOf(marker), 1)
      },
      stop: unlisten,
    }
  }

  /** One statement, as a direct writer would write it: an alarm with a Korean text for each user. */
  async function insertStatement(sql: postgres.Sql, users: string[], text: string) {
    await sql`
      with a as (insert into alarms (user_id) select unnest(${users}::text[]) returning id, user_id)
      insert into alarm_messages (alarm_id, locale, message) select id, 'ko', ${text} || ' ' || user_id from a`
  }

  test('a multi-row insert by a direct writer wakes every user\'s stream once, with one notification', async () => {
    await using h = await testHerald('wake_statement')
    const users = Array.from({ length: 40 }, (_, i) => `stmt-${i}`)
    const subs = await Promise.all(users.map((user) => h.subscribe(user, { lang: 'ko' })))
    await Promise.all(subs.map(ready))
    const wakes = await listenToWakes(h)
    await insertStatement(h.db.sql, users, 'first')
    const first = await Promise.all(subs.map(nextAlarm))
    first.forEach((alarm, i) => expect(alarm).toMatchObject({ seq: 1, message: `first ${users[i]}` }))
    await wakes.settle()
    expect(wakes.payloads).toHaveLength(1)
    expect(usersOf(wakes.payloads[0]!).sort()).toEqual([...users].sort())
    // Once: the next event on every stream is the next alarm, not the first one again.
    await insertStatement(h.db.sql, users, 'second')
    const second = await Promise.all(subs.map(nextAlarm))
    second.forEach((alarm, i) => expect(alarm).toMatchObject({ seq: 2, message: `second ${users[i]}` }))
    await wakes.stop()
    await Promise.all(subs.map((sub) => sub.cancel()))
  })

  test('a statement for more users than one payload holds is split, each part under the 8000-byte limit', async () => {
    await using h = await testHerald('wake_split')
    // Short ids, and the longest in bytes: 200 characters of 3 bytes (the longest a stream can name),
    // and of 4 bytes (which only a direct writer can store: the API counts UTF-16 units).
    const short = Array.from({ length: 1200 }, (_, i) => `split-${String(i).padStart(4, '0')}-${'x'.repeat(20)}`)
    const long = Array.from({ length: 15 }, (_, i) => '가'.repeat(197) + String(i).padStart(3, '0'))
    const longest = Array.from({ length: 15 }, (_, i) => '🔔'.repeat(197) + String(i).padStart(3, '0'))
    const users = [...short, ...long, ...longest]
    const watched = [short[0]!, short[599]!, short.at(-1)!, long[0]!, long.at(-1)!]
    const subs = await Promise.all(watched.map((user) => h.subscribe(user, { lang: 'ko' })))
    await Promise.all(subs.map(ready))
    const wakes = await listenToWakes(h)
    await insertStatement(h.db.sql, users, 'split')
    const got = await Promise.all(subs.map(nextAlarm))
    got.forEach((alarm, i) => expect(alarm).toMatchObject({ seq: 1, message: `split ${watched[i]}` }))
    await wakes.settle()
    const bytes = users.reduce((sum, user) => sum + Buffer.byteLength(user) + 1, 0)
    expect(wakes.payloads.length).toBeGreaterThan(1)
    expect(wakes.payloads.length).toBeLessThanOrEqual(Math.ceil(bytes / 7000) + 1)
    for (const payload of wakes.payloads) expect(Buffer.byteLength(payload)).toBeLessThan(NOTIFY_LIMIT)
    const named = wakes.payloads.flatMap(usersOf)
    expect(named).toHaveLength(users.length) // no user named twice
    expect(named.sort()).toEqual([...users].sort())
    await wakes.stop()
    await Promise.all(subs.map((sub) => sub.cancel()))
  })

  test('a direct writer\'s update or delete over many users wakes each of them once, with one notification', async () => {
    await using h = await testHerald('wake_statement_state')
    const users = Array.from({ length: 30 }, (_, i) => `state-${i}`)
    const subs = await Promise.all(users.map((user) => h.subscribe(user, { lang: 'ko' })))
    await Promise.all(subs.map(ready))
    await insertStatement(h.db.sql, users, 'to mark')
    await Promise.all(subs.map(nextAlarm))
    /** The next event of this kind on the stream, skipping badge updates. */
    async function next(sub: (typeof subs)[number], kind: string) {
      let event = await sub.nextEvent()
      while (event?.event === 'badge') event = await sub.nextEvent()
      expect(event?.event).toBe(kind)
      return JSON.parse(event!.data!)
    }
    const wakes = await listenToWakes(h)
    await h.db.sql`update alarms set read_at = now() where user_id = any(${users}::text[])`
    for (const event of await Promise.all(subs.map((sub) => next(sub, 'state')))) expect(event).toMatchObject({ change: 'read' })
    await wakes.settle()
    expect(wakes.payloads).toHaveLength(1)
    expect(usersOf(wakes.payloads[0]!).sort()).toEqual([...users].sort())
    wakes.payloads.length = 0
    await h.db.sql`delete from alarms where user_id = any(${users}::text[])`
    for (const event of await Promise.all(subs.map((sub) => next(sub, 'deleted')))) expect(event).toMatchObject({ seq: 1 })
    await wakes.settle()
    expect(wakes.payloads).toHaveLength(1)
    expect(usersOf(wakes.payloads[0]!).sort()).toEqual([...users].sort())
    await wakes.stop()
    await Promise.all(subs.map((sub) => sub.cancel()))
  })

  test('a quiet commit sends no wake-up; the next statement that is not quiet does', async () => {
    await using h = await testHerald('wake_quiet')
    const wakes = await listenToWakes(h)
    await h.db.sql.begin(async (tx) => {
      await tx`select set_config('herald.quiet', 'on', true)`
      await insertStatement(tx as unknown as postgres.Sql, ['quiet-1', 'quiet-2'], 'quiet')
    })
    await insertStatement(h.db.sql, ['loud-1', 'loud-2'], 'loud')
    await wakes.settle()
    expect(wakes.payloads.flatMap(usersOf).sort()).toEqual(['loud-1', 'loud-2'])
    await wakes.stop()
  })

  test('wake-ups announced through PostgreSQL (a quiet commit, Redis unreachable) travel in payloads under the limit', async () => {
    await using h = await testHerald('wake_announce')
    const sub = await h.subscribe('announced', { lang: 'ko' })
    await ready(sub)
    await h.db.sql.begin(async (tx) => {
      await tx`select set_config('herald.quiet', 'on', true)`
      await insertStatement(tx as unknown as postgres.Sql, ['announced'], 'quietly')
    })
    const wakes = await listenToWakes(h)
    const others = Array.from({ length: 2000 }, (_, i) => `nobody-here-${i}`)
    await h.herald.signals.announce([...others, 'announced'])
    expect(await nextAlarm(sub)).toMatchObject({ seq: 1, message: 'quietly announced' })
    await wakes.settle()
    expect(wakes.payloads.length).toBeGreaterThan(1)
    expect(wakes.payloads.length).toBeLessThan(10) // not one per user
    for (const payload of wakes.payloads) expect(Buffer.byteLength(payload)).toBeLessThan(NOTIFY_LIMIT)
    expect(wakes.payloads.flatMap(usersOf)).toEqual([...others, 'announced'])
    await wakes.stop()
    await sub.cancel()
  })
})

describe('wake-up payloads', () => {
  test('name every user once, in order, each payload under the limit however long the ids are in bytes', () => {
    const users = [
      ...Array.from({ length: 500 }, (_, i) => `u${i}`),
      ...Array.from({ length: 40 }, (_, i) => '가'.repeat(198) + String(i).padStart(2, '0')),
      ...Array.from({ length: 40 }, (_, i) => '🔔'.repeat(198) + String(i).padStart(2, '0')),
    ]
    const payloads = wakePayloads(users)
    expect(payloads.length).toBeGreaterThan(1)
    for (const payload of payloads) expect(Buffer.byteLength(payload)).toBeLessThanOrEqual(MAX_WAKE_PAYLOAD_BYTES)
    expect(payloads.flatMap(usersOf)).toEqual(users)
  })

  test('one user is the user id itself (what a statement for one user sends); none is no payload', () => {
    expect(wakePayloads(['tiaz'])).toEqual(['tiaz'])
    expect(usersOf('tiaz')).toEqual(['tiaz'])
    expect(wakePayloads([])).toEqual([])
  })
})

describe("this process's own publishes", () => {
  const publish = async (h: Awaited<ReturnType<typeof testHerald>>, userId: string, text: string) => {
    const res = await h.publish({ userId, messages: { ko: text } })
    expect(res.status).toBe(201)
    return (await res.json()) as { id: number; seq: number }
  }

  test('are handed to the stream at commit: no wake-up heard, no fetch, the alarm then its badge', async () => {
    // Listening on a channel nobody notifies: only the hand-off can bring the alarm.
    await using h = await testHerald('wake_handoff', { channel: 'herald_nowhere' })
    const sub = await h.subscribe('own', { lang: 'ko' })
    await ready(sub)
    const queries = h.herald.fetcher.stats.queries
    for (const [n, text] of ['first', 'second'].entries()) {
      const stored = await publish(h, 'own', text)
      const alarm = await sub.nextEvent()
      expect(alarm?.event).toBe('alarm')
      expect(JSON.parse(alarm!.data!)).toMatchObject({ id: stored.id, seq: n + 1, locale: 'ko', message: text })
      const badge = await sub.nextEvent()
      expect(badge?.event).toBe('badge')
      expect(JSON.parse(badge!.data!)).toEqual({ unread: n + 1, unseen: n + 1 })
    }
    expect(h.herald.fetcher.stats.queries).toBe(queries)
    await sub.cancel()
  })

  test('arrive once although their wake-up comes too; a direct SQL writer still wakes the stream', async () => {
    await using h = await testHerald('wake_handoff_once')
    const sub = await h.subscribe('twice', { lang: 'ko' })
    await ready(sub)
    const requests = h.herald.fetcher.stats.requests
    await publish(h, 'twice', 'handed over')
    expect((await nextAlarm(sub)).message).toBe('handed over')
    // The commit's NOTIFY wakes the stream, which reads after its cursor and finds nothing new.
    await until(() => h.herald.fetcher.stats.requests > requests, 'the wake-up fetch')
    await insertFor(h.db.sql, ['twice'], () => 'by SQL')
    const next = await nextAlarm(sub)
    expect(next).toMatchObject({ message: 'by SQL', seq: 2 })
    await sub.cancel()
  })

  test('are not handed over past a gap: the stream reads what it missed first, in order', async () => {
    await using h = await testHerald('wake_handoff_gap', { channel: 'herald_nowhere' })
    const sub = await h.subscribe('gap', { lang: 'ko' })
    await ready(sub)
    await insertFor(h.db.sql, ['gap'], () => 'missed') // seq 1: its wake-up is lost
    await publish(h, 'gap', 'published') // seq 2: not after the cursor (0), so left to a wake-up
    expect(await h.herald.signals.catchUp()).toBe(1)
    expect(await nextAlarm(sub)).toMatchObject({ message: 'missed', seq: 1 })
    expect(await nextAlarm(sub)).toMatchObject({ message: 'published', seq: 2 })
    await sub.cancel()
  })
})
