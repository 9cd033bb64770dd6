// The wake-up path: one LISTEN per process, batched queries, and the safety nets for missed
// notifications.
import { describe, expect, test } from 'bun:test'
import postgres from 'postgres'
import { nextAlarm, ready, testHerald, until } from './helpers/herald'



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
