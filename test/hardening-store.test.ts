// Issue 12, the store and stream side: a writer, a lock or a flood of languages must not push
// Herald off its contract. Each test here failed before its fix.
import { afterAll, beforeAll, describe, expect, test } from 'bun:test'
import postgres from 'postgres'
import { boundedCache, createAvailable, streamLanguage } from '../src/locale'
import type { AlarmRow, FetchRequest, LogReads, Page } from '../src/store/alarms'
import { createFetcher } from '../src/stream/fetcher'
import { createLive } from '../src/stream/live'
import { openAlarmStream } from '../src/stream/stream'
import { nextAlarm, ready, testHerald, type TestHerald } from './helpers/herald'
import { readSse } from './helpers/sse'

let h: TestHerald
const logged: string[] = []
const log = { log() {}, warn: (...parts: unknown[]) => void logged.push(parts.join(' ')), error: (...parts: unknown[]) => void logged.push(parts.join(' ')) }
beforeAll(async () => {
  h = await testHerald('hardening_store', { lockTimeoutMs: 10_000, maxLocales: 40, log })
})
afterAll(() => h[Symbol.asyncDispose]())

const publish = (target: TestHerald, userId: string, messages: Record<string, string> = { ko: userId }) =>
  target.publish({ userId, messages })

/** A transaction of a direct writer, held open until `release()`: how a long writer is simulated. */
async function heldWriter(url: string, write: (tx: postgres.TransactionSql) => Promise<unknown>) {
  const sql = postgres(url, { max: 1, onnotice: () => {} })
  const wrote = Promise.withResolvers<void>()
  const release = Promise.withResolvers<void>()
  const done = sql
    .begin(async (tx) => {
      await write(tx)
      wrote.resolve()
      await release.promise
    })
    .catch((error) => wrote.reject(error))
  await wrote.promise
  return {
    release: async () => {
      release.resolve()
      await done
      await sql.end()
    },
  }
}

function settledFlag(promise: Promise<unknown>) {
  const flag = { settled: false }
  promise.finally(() => (flag.settled = true)).catch(() => {})
  return flag
}

describe('2. a poisoned alarm', () => {
  test('deleting every text of an alarm is refused at commit; deleting the alarm itself is fine', async () => {
    const { id } = await (await publish(h, 'poison-delete', { ko: '하나', en: 'one' })).json()
    await expect(h.db.sql`delete from alarm_messages where alarm_id = ${id}`).rejects.toMatchObject({ code: '23514' })
    await h.db.sql`delete from alarm_messages where alarm_id = ${id} and locale = 'en'` // one text left: fine
    await h.db.sql`delete from alarms where id = ${id}`
    expect((await h.db.sql`select count(*)::int as n from alarm_messages where alarm_id = ${id}`)[0]!.n).toBe(0)
  })

  test('a text-less alarm that got in anyway is skipped with a log line, and the alarms after it arrive', async () => {
    const bad = await (await publish(h, 'poisoned', { ko: '나쁜' })).json()
    // An administrator with the constraints switched off: the row the stream must survive.
    await h.db.sql.begin(async (tx) => {
      await tx`set local session_replication_role = replica`
      await tx`delete from alarm_messages where alarm_id = ${bad.id}`
    })
    const good = await (await publish(h, 'poisoned', { ko: '좋은' })).json()
    const sub = await h.subscribe('poisoned', { since: 0 })
    await ready(sub)
    const event = await sub.nextEvent()
    expect(event?.id).toBe(String(good.seq))
    expect(JSON.parse(event!.data!).message).toBe('좋은')
    expect(logged.some((line) => line.includes(`alarm ${bad.id}`) && line.includes('no text'))).toBe(true)
    await sub.cancel()
  })
})

describe('3. one long transaction on one user', () => {
  test("publishes for other users go through while the user's own wait", async () => {
    const writer = await heldWriter(h.db.url, async (tx) => {
      const [row] = await tx`insert into alarms (user_id) values ('stuck') returning id`
      await tx`insert into alarm_messages (alarm_id, locale, message) values (${row!.id}, 'ko', 'writer')`
    })
    try {
      const stuck: Promise<Response>[] = []
      for (let i = 0; i < 6; i++) {
        stuck.push(publish(h, 'stuck', { ko: `mine ${i}` }))
        await new Promise((resolve) => setImmediate(resolve)) // separate event-loop turns: separate batches
      }
      const flags = stuck.map(settledFlag)
      const other = await publish(h, 'free-to-go')
      expect(other.status).toBe(201)
      expect(flags.every((flag) => !flag.settled)).toBe(true) // still waiting for the writer
      await writer.release()
      const answers = await Promise.all(stuck)
      expect(answers.map((res) => res.status)).toEqual([201, 201, 201, 201, 201, 201])
    } finally {
      await writer.release()
    }
  })

  test('its own publishes fail cleanly after the configured wait: 503 USER_BUSY, nothing stored', async () => {
    await using quick = await testHerald('hardening_lock', { lockTimeoutMs: 200 })
    const writer = await heldWriter(quick.db.url, async (tx) => {
      const [row] = await tx`insert into alarms (user_id) values ('held') returning id`
      await tx`insert into alarm_messages (alarm_id, locale, message) values (${row!.id}, 'ko', 'writer')`
    })
    let answers: Response[]
    try {
      answers = await Promise.all([publish(quick, 'held'), publish(quick, 'held')])
    } finally {
      await writer.release()
    }
    for (const res of answers) {
      expect(res.status).toBe(503)
      expect(res.headers.get('retry-after')).toBe('1')
      expect((await res.json()).error.code).toBe('USER_BUSY')
    }
    const rows = await quick.db.sql`select count(*)::int as n from alarms where user_id = 'held'`
    expect(rows[0]!.n).toBe(1) // the writer's alone
  })
})

describe('4. locale pollution', () => {
  test('an alarm with more than 100 languages is refused: 400 TOO_MANY_LOCALES, nothing stored', async () => {
    const messages = Object.fromEntries(Array.from({ length: 101 }, (_, i) => [`en-x-p${i}`, 'x']))
    const res = await publish(h, 'polluter', messages)
    expect(res.status).toBe(400)
    expect((await res.json()).error.code).toBe('TOO_MANY_LOCALES')
    expect((await h.db.sql`select count(*)::int as n from alarms where user_id = 'polluter'`)[0]!.n).toBe(0)
  })

  test('Herald learns at most HERALD_MAX_LOCALES languages; past it a new one is refused, known ones still work', async () => {
    const known = h.herald.available.list.length
    for (let i = known; i < 40; i++) expect((await publish(h, 'learner', { [`en-x-l${i}`]: 'x' })).status).toBe(201)
    expect(h.herald.available.list.length).toBe(40)
    const refused = await publish(h, 'learner', { 'en-x-one-too-many': 'x' })
    expect(refused.status).toBe(400)
    expect((await refused.json()).error.code).toBe('TOO_MANY_LOCALES')
    expect((await publish(h, 'learner', { 'en-x-l39': 'again' })).status).toBe(201)
    expect(h.herald.available.list.length).toBe(40)
  })

  test('a known language leaves the list as it is, however many are known (no rebuild, no re-sort)', () => {
    const available = createAvailable(undefined, { max: 100_000 })
    available.add(Array.from({ length: 30_000 }, (_, i) => `en-x-k${i}`))
    const list = available.list
    available.add(['en-x-k5', 'en-x-k29999'])
    expect(available.list).toBe(list)
  })

  test("the match cache's keys name the known list, not its contents; its bytes are bounded", () => {
    const available = createAvailable(undefined, { max: 100_000 })
    available.add(Array.from({ length: 30_000 }, (_, i) => `en-x-m${i}`))
    const cache = boundedCache<string>(4096, 1024 * 1024)
    for (let i = 0; i < 20_000; i++) cache.set(`key ${i} `.repeat(10), 'value')
    expect(cache.bytes).toBeLessThanOrEqual(1024 * 1024)
    expect(cache.size).toBeLessThanOrEqual(4096)
    // A stream open against 30,000 known languages: the cache key must not carry all of them.
    const before = process.memoryUsage().heapUsed
    for (let i = 0; i < 2000; i++) streamLanguage([`en-x-m${i}`, 'ko'], available.list, 'en')
    expect(process.memoryUsage().heapUsed - before).toBeLessThan(64 * 1024 * 1024)
  })

  test('learning languages a writer introduces concurrently never deadlocks (12)', async () => {
    // The writer introduces `gd`, then (after the publish) `fy`; the publish carries both.
    await using fresh = await testHerald('hardening_learn')
    const writer = postgres(fresh.db.url, { max: 1, onnotice: () => {} })
    const next = Promise.withResolvers<void>()
    try {
      const writing = writer.begin(async (tx) => {
        const [row] = await tx`insert into alarms (user_id) values ('linguist-w') returning id`
        await tx`insert into alarm_messages (alarm_id, locale, message) values (${row!.id}, 'gd', 'writer gd')`
        next.resolve()
        await published.promise
        await tx`insert into alarm_messages (alarm_id, locale, message) values (${row!.id}, 'fy', 'writer fy')`
      })
      const published = Promise.withResolvers<Response>()
      await next.promise
      published.resolve(await publish(fresh, 'linguist-p', { fy: 'fy', gd: 'gd' }))
      await writing
      expect((await published.promise).status).toBe(201)
      // Remembered for restarts and other instances, in a statement of its own right after the commit.
      let kept: string[] = []
      for (let tries = 0; kept.length < 2 && tries < 200; tries++)
        kept = (await fresh.db.sql`select locale from locales where locale in ('fy', 'gd') order by locale`).map((row) => row.locale)
      expect(kept).toEqual(['fy', 'gd'])
    } finally {
      await writer.end()
    }
  })
})

test('11. a writer cannot choose alarm ids; one that forces its own does not break later publishes', async () => {
  await expect(h.db.sql`insert into alarms (id, user_id) values (999999, 'chooser')`).rejects.toMatchObject({ code: '428C9' })
  const [{ next }] = (await h.db.sql`select last_value + 1 as next from alarms_id_seq`) as unknown as [{ next: string }]
  await h.db.sql.begin(async (tx) => {
    await tx`insert into alarms (id, user_id) overriding system value values (${next}, 'chooser'), (${Number(next) + 1}, 'chooser')`
    await tx`insert into alarm_messages (alarm_id, locale, message) select id, 'ko', 'forced' from alarms where user_id = 'chooser'`
  })
  for (let i = 0; i < 3; i++) expect((await publish(h, 'after-chooser')).status).toBe(201)
})

test('13. a wake-up that comes while an empty fetch runs is not left for the next tick', async () => {
  // A stream over a fetcher whose queries the test answers by hand, and a heartbeat an hour away:
  // only the stream's own logic can make the second fetch happen.
  const queries: { requests: FetchRequest[]; answer(pages: Page[]): void }[] = []
  const asked: (() => void)[] = []
  const reads: LogReads = {
    fetchAfter: (requests) =>
      new Promise((resolve) => {
        queries.push({ requests, answer: resolve })
        asked.shift()?.()
      }),
    positions: async (users) => new Map(users.map((user) => [user, { seq: 0, badge: { unread: 0, unseen: 0 } }])),
  }
  const nextQuery = () => new Promise<void>((resolve) => asked.push(resolve))
  const live = createLive({ heartbeatMs: 3_600_000 })
  const stream = openAlarmStream(
    { live, fetcher: createFetcher(reads), available: createAvailable(['ko']), nextGeneration: async () => 1, presence: { open() {}, close() {} }, defaultLocale: 'ko', retryMs: 1000, onError: () => {} },
    { userId: 'racer', locale: 'ko', preferred: ['ko'], timeZone: 'UTC' },
  )
  const sub = readSse(new Response(stream))
  try {
    await ready(sub)
    let asking = nextQuery()
    live.wake(['racer'])
    await asking
    asking = nextQuery()
    live.wake(['racer']) // arrives while the first fetch is still out
    queries[0]!.answer([{ entries: [], badge: { unread: 0, unseen: 0 } }]) // …which finds nothing
    await asking // the second fetch happens now, not at the next tick
    const row: AlarmRow = { kind: 'alarm', id: 1, seq: 1, locales: ['ko'], messages: ['늦지 않게'], dataJson: '{}', createdAt: new Date().toISOString() }
    queries[1]!.answer([{ entries: [row], badge: { unread: 1, unseen: 1 } }])
    expect((await nextAlarm(sub)).message).toBe('늦지 않게')
  } finally {
    await sub.cancel()
    live.stop()
  }
})
