import { afterAll, beforeAll, describe, expect, test } from 'bun:test'
import postgres from 'postgres'
import { nextAlarm, ready, testHerald, until, type TestHerald } from './helpers/herald'

let h: TestHerald
let writer: postgres.Sql
beforeAll(async () => {
  h = await testHerald('stream')
  writer = postgres(h.db.url, { max: 8, onnotice: () => {}, connection: { application_name: `writer_${h.db.schema}` } })
  // The languages present in the data: ko, en-US, ja, zh-Hant.
  await publishOk('seed-user', { ko: '가', 'en-US': 'a', ja: 'あ', 'zh-Hant': '甲' })
})
afterAll(async () => {
  await writer.end()
  await h[Symbol.asyncDispose]()
})

async function publishOk(userId: string, messages: Record<string, string>, data: object = {}) {
  const res = await h.publish({ userId, messages, data })
  expect(res.status).toBe(201)
  return (await res.json()) as { id: number; seq: number; createdAt: string }
}

const reservation = { ko: '예약에 성공했습니다!', 'en-US': 'I have successfully made a reservation.', ja: '予約に成功しました' }



async function directInsert(userId: string, messages: Record<string, string>) {
  return writer.begin(async (tx) => {
    const [alarm] = await tx`insert into alarms (user_id, data) values (${userId}, ${tx.json({ via: 'sql' })}) returning id`
    for (const [locale, message] of Object.entries(messages))
      await tx`insert into alarm_messages (alarm_id, locale, message) values (${alarm!.id}, ${locale}, ${message})`
    return Number(alarm!.id)
  })
}

/** Resolves once `count` sessions wait on a lock: the writers queued behind the open transaction. */
async function waitForLockWaiters(count: number) {
  for (let i = 0; i < 500; i++) {
    const [row] = await writer`select count(*)::int as n from pg_stat_activity where wait_event_type = 'Lock' and application_name = ${`writer_${h.db.schema}`}`
    if (row!.n >= count) return
  }
  throw new Error(`fewer than ${count} writers waited on the lock`)
}

describe('GET /connection/:userId', () => {
  test('opens with the SSE headers and a first frame, then ready', async () => {
    const sub = await h.subscribe('headers', { lang: 'ko' })
    const { response } = sub
    expect(response.status).toBe(200)
    expect(response.headers.get('content-type')).toBe('text/event-stream; charset=utf-8')
    expect(response.headers.get('cache-control')).toContain('no-store')
    expect(response.headers.get('cache-control')).toContain('no-transform')
    expect(response.headers.get('x-accel-buffering')).toBe('no')
    expect(response.headers.get('content-language')).toBe('ko')
    // The generation is a hybrid clock (µs since the epoch, or one more than the last): see below.
    const before = Date.now() * 1000
    const raw = await sub.rawBlocks(2)
    const generation = Number(raw.match(/"generation":(\d+),/)?.[1])
    expect(raw).toBe(
      `retry: 2000\n: herald\n\nevent: ready\ndata: {"userId":"headers","device":null,"locale":"ko","generation":${generation},"since":0,"badge":{"unread":0,"unseen":0}}\n\n`,
    )
    expect(generation).toBeGreaterThan(before - 60_000_000) // the database's clock, not ours: allow skew
    expect(generation).toBeLessThan(Date.now() * 1000 + 60_000_000)
    await sub.cancel()
  })

  test('delivers an alarm published after ready, byte for byte', async () => {
    const sub = await h.subscribe('tiaz', { lang: 'en-US' })
    await ready(sub)
    const alarm = await publishOk('tiaz', reservation, { reservationId: 17 })
    expect(await sub.rawBlocks(1)).toBe(
      `id: ${alarm.seq}\nevent: alarm\ndata: {"id":${alarm.id},"seq":${alarm.seq},"locale":"en-US",` +
        `"message":"I have successfully made a reservation.","data":{"reservationId": 17},` +
        `"createdAt":"${alarm.createdAt}"}\n\n`,
    )
    await sub.cancel()
  })

  test('ready says which seq the stream starts after: the newest, or the resume cursor', async () => {
    await publishOk('position', { ko: 'one' })
    const { seq } = await publishOk('position', { ko: 'two' })
    const fresh = await h.subscribe('position', { lang: 'ko' })
    expect((await ready(fresh)).since).toBe(seq)
    await fresh.cancel()
    const resumed = await h.subscribe('position', { lang: 'ko', since: 1 })
    expect((await ready(resumed)).since).toBe(1)
    expect((await nextAlarm(resumed)).message).toBe('two')
    await resumed.cancel()
  })

  test('a language no alarm had when the stream opened is still used once alarms have it', async () => {
    // Nothing in the data is Thai or Finnish yet: the stream's locale falls back to the default...
    const sub = await h.subscribe('thai', { lang: 'th,fi' })
    expect((await ready(sub)).locale).toBe('en')
    // ...but the fallback is not a wish: an alarm with the asked-for language comes in it.
    await publishOk('thai', { th: 'สำเร็จ', 'en-US': 'Done', ja: '完了' })
    expect(await nextAlarm(sub)).toMatchObject({ locale: 'th', message: 'สำเร็จ' })
    await publishOk('thai', { 'en-US': 'Done again', fi: 'Valmis' })
    expect(await nextAlarm(sub)).toMatchObject({ locale: 'fi', message: 'Valmis' })
    await publishOk('thai', { ko: '다시', 'en-US': 'And again' })
    expect(await nextAlarm(sub)).toMatchObject({ locale: 'en-US', message: 'And again' })
    await sub.cancel()
  })

  test('delivers only alarms committed after it opened when it does not resume', async () => {
    await publishOk('fresh', { ko: 'old' })
    const sub = await h.subscribe('fresh', { lang: 'ko' })
    await ready(sub)
    await publishOk('fresh', { ko: 'new' })
    expect((await nextAlarm(sub)).message).toBe('new')
    await sub.cancel()
  })

  test('delivers an alarm written by a direct SQL writer, in the stream language', async () => {
    const sub = await h.subscribe('sql-reader', { lang: 'ja' })
    await ready(sub)
    const id = await directInsert('sql-reader', { ko: '직접', ja: '直接', 'en-us': 'direct' })
    const alarm = await nextAlarm(sub)
    expect(alarm).toMatchObject({ id, seq: 1, locale: 'ja', message: '直接', data: { via: 'sql' } })
    await sub.cancel()
  })

  test("a direct writer's non-canonical locale is matched and reported canonically", async () => {
    const sub = await h.subscribe('sql-case', { lang: 'en-GB' })
    await ready(sub)
    await directInsert('sql-case', { 'en-us': 'direct', ko: '직접' })
    expect(await nextAlarm(sub)).toMatchObject({ locale: 'en-US', message: 'direct' })
    await sub.cancel()
  })
})

describe('language', () => {
  test.each([
    ['en-GB', 'en-US'],
    ['ja-JP', 'ja'],
    ['zh-TW', 'zh-Hant'],
    ['fr', 'en'],
  ])('Accept-Language %s negotiates to %s among the languages in the data', async (header, expected) => {
    const sub = await h.subscribe(`neg-${header}`, { headers: { 'accept-language': header } })
    expect(sub.response.headers.get('content-language')).toBe(expected)
    expect((await ready(sub)).locale).toBe(expected)
    await sub.cancel()
  })

  test('lang overrides Accept-Language', async () => {
    const sub = await h.subscribe('lang-wins', { lang: 'ja', headers: { 'accept-language': 'ko' } })
    expect((await ready(sub)).locale).toBe('ja')
    await sub.cancel()
  })

  test('a malformed or wildcard Accept-Language is skipped, not an error', async () => {
    const sub = await h.subscribe('junk-header', { headers: { 'accept-language': '*, US-en;q=0.9, ;;;, ko;q=0.5' } })
    expect(sub.response.status).toBe(200)
    expect((await ready(sub)).locale).toBe('ko')
    await sub.cancel()
  })

  test("each alarm falls back: the client's list, then the default, then the first text", async () => {
    const sub = await h.subscribe('fallback', { lang: 'ko,ja' })
    await ready(sub)
    await publishOk('fallback', { ja: 'ja text', 'en-US': 'en text' }) // no ko: the client's next choice
    await publishOk('fallback', { de: 'de text', en: 'en text' }) // neither: the default, en
    await publishOk('fallback', { fr: 'fr text', de: 'de text' }) // nothing fits: first, sorted
    expect(await nextAlarm(sub)).toMatchObject({ locale: 'ja', message: 'ja text' })
    expect(await nextAlarm(sub)).toMatchObject({ locale: 'en', message: 'en text' })
    expect(await nextAlarm(sub)).toMatchObject({ locale: 'de', message: 'de text' })
    await sub.cancel()
  })

  test('switching language = a new stream with since: nothing lost or repeated', async () => {
    const first = await h.subscribe('switcher', { lang: 'ko' })
    await ready(first)
    await publishOk('switcher', reservation)
    const seen = await nextAlarm(first)
    expect(seen.locale).toBe('ko')
    const second = await h.subscribe('switcher', { lang: 'ja', since: seen.eventId })
    await ready(second)
    await publishOk('switcher', reservation)
    const after = await nextAlarm(second)
    expect(after).toMatchObject({ seq: seen.seq + 1, locale: 'ja' })
    await second.cancel()
  })
})

describe('bad subscribe input', () => {
  const cases: [string, string, Record<string, string>, string][] = [
    ['an invalid lang', '/connection/u?lang=US-en', {}, 'INVALID_LOCALE'],
    ['a wildcard lang', '/connection/u?lang=*', {}, 'INVALID_LOCALE'],
    ['an empty lang', '/connection/u?lang=', {}, 'INVALID_LOCALE'],
    ['a malformed since', '/connection/u?since=abc', {}, 'INVALID_CURSOR'],
    ['a negative since', '/connection/u?since=-1', {}, 'INVALID_CURSOR'],
    ['a malformed Last-Event-ID', '/connection/u', { 'last-event-id': '1.5' }, 'INVALID_CURSOR'],
    ['a userId over 200 characters', `/connection/${'u'.repeat(201)}`, {}, 'INVALID_USER_ID'],
    ['a userId with a control character', '/connection/a%01b', {}, 'INVALID_USER_ID'],
    ['a userId with a broken escape', '/connection/%E0%A4%A', {}, 'INVALID_USER_ID'],
    ['a userId that is not UTF-8', '/connection/%ED%A0%80', {}, 'INVALID_USER_ID'],
  ]
  test.each(cases)('%s → 400 %s, and no stream is registered', async (_, path, headers, code) => {
    const res = await fetch(new URL(path, h.url), { headers })
    expect(res.status).toBe(400)
    expect((await res.json()).error.code).toBe(code)
    expect(h.herald.live.generationOf('u')).toBeUndefined()
  })
})

describe('resume', () => {
  test('Last-Event-ID resumes after that seq, every later alarm once, in order', async () => {
    for (let i = 1; i <= 5; i++) await publishOk('resumer', { ko: `m${i}` })
    const sub = await h.subscribe('resumer', { lang: 'ko', headers: { 'last-event-id': '2' } })
    await ready(sub)
    const got = [await nextAlarm(sub), await nextAlarm(sub), await nextAlarm(sub)]
    expect(got.map((a) => [a.eventId, a.message])).toEqual([['3', 'm3'], ['4', 'm4'], ['5', 'm5']])
    await publishOk('resumer', { ko: 'm6' })
    expect((await nextAlarm(sub)).message).toBe('m6')
    await sub.cancel()
  })

  test('since resumes the same way', async () => {
    for (let i = 1; i <= 3; i++) await publishOk('since-user', { ko: `s${i}` })
    const sub = await h.subscribe('since-user', { lang: 'ko', since: 1 })
    await ready(sub)
    expect([(await nextAlarm(sub)).message, (await nextAlarm(sub)).message]).toEqual(['s2', 's3'])
    await sub.cancel()
  })

  test('Last-Event-ID wins over since', async () => {
    for (let i = 1; i <= 3; i++) await publishOk('both', { ko: `b${i}` })
    const sub = await h.subscribe('both', { lang: 'ko', since: 0, headers: { 'last-event-id': '2' } })
    await ready(sub)
    expect((await nextAlarm(sub)).message).toBe('b3')
    await sub.cancel()
  })

  test('concurrent writers, one holding its transaction open: every alarm once, in seq order', async () => {
    const sub = await h.subscribe('racers', { lang: 'ko' })
    await ready(sub)
    // A begins first and commits last. A global serial or a timestamp cursor would let B's row be
    // read, move the cursor past A's, and lose A.
    const inserted = Promise.withResolvers<void>()
    const release = Promise.withResolvers<void>()
    const slow = writer.begin(async (tx) => {
      const [a] = await tx`insert into alarms (user_id) values ('racers') returning id`
      await tx`insert into alarm_messages (alarm_id, locale, message) values (${a!.id}, 'ko', 'A')`
      inserted.resolve()
      await release.promise
    })
    await inserted.promise
    const others = Promise.all(['B', 'C', 'D'].map((m) => directInsert('racers', { ko: m })))
    // Let the others reach the database (they wait on A's row lock), then let A commit.
    await waitForLockWaiters(3)
    release.resolve()
    await slow
    await others
    // Many more writers at once, with jitter inside their transactions.
    await Promise.all(
      Array.from({ length: 20 }, (_, i) =>
        writer.begin(async (tx) => {
          const [a] = await tx`insert into alarms (user_id) values ('racers') returning id`
          await tx`select pg_sleep(${Math.random() * 0.01})`
          await tx`insert into alarm_messages (alarm_id, locale, message) values (${a!.id}, 'ko', ${'w' + i})`
        }),
      ),
    )
    const seqs: number[] = []
    for (let i = 0; i < 24; i++) seqs.push((await nextAlarm(sub)).seq)
    expect(seqs).toEqual(Array.from({ length: 24 }, (_, i) => i + 1))
    const [first] = await writer`select message from alarm_messages m join alarms a on a.id = m.alarm_id where a.user_id = 'racers' and a.seq = 1`
    expect(first!.message).toBe('A')
    // A reader that resumes mid-way gets the rest exactly once too.
    const resumed = await h.subscribe('racers', { lang: 'ko', since: 10 })
    await ready(resumed)
    const rest: number[] = []
    for (let i = 0; i < 14; i++) rest.push((await nextAlarm(resumed)).seq)
    expect(rest).toEqual(Array.from({ length: 14 }, (_, i) => i + 11))
    await resumed.cancel()
  })
})

describe('one stream per user', () => {
  test('a newer stream supersedes the older within 100 ms; the newer keeps receiving', async () => {
    const older = await h.subscribe('one', { lang: 'ko' })
    const first = (await ready(older)).generation
    const opened = performance.now()
    const newer = await h.subscribe('one', { lang: 'ja' })
    const superseded = await older.nextEvent()
    expect(superseded?.event).toBe('superseded')
    expect(superseded?.retry).toBe(86_400_000)
    expect(JSON.parse(superseded!.data!)).toEqual({ reason: 'newer-connection' })
    expect(await older.ended()).toEqual([])
    expect(performance.now() - opened).toBeLessThan(100)
    const second = (await ready(newer)).generation
    expect(second).toBeGreaterThan(first)
    await publishOk('one', reservation)
    expect(await nextAlarm(newer)).toMatchObject({ locale: 'ja' })
    expect(h.herald.live.generationOf('one')).toBe(second)
    await newer.cancel()
  })

  test('a client that disconnects releases its stream and nothing of the user stays', async () => {
    const sub = await h.subscribe('leaver', { lang: 'ko' })
    const { generation } = await ready(sub)
    expect(h.herald.live.generationOf('leaver')).toBe(generation)
    sub.abort()
    await until(() => h.herald.live.generationOf('leaver') === undefined, 'the registry to forget the user')
    await until(() => !h.herald.live.cursors().has('leaver'), 'the hub to forget the user')
  })
})

describe('backpressure', () => {
  test('a client that does not read is not buffered for: the stream pulls one page at a time', async () => {
    for (let i = 0; i < 250; i++) await h.db.sql`select 1` // keep the pool warm
    await writer.begin(async (tx) => {
      for (let i = 0; i < 250; i++) {
        const [a] = await tx`insert into alarms (user_id) values ('slow-reader') returning id`
        await tx`insert into alarm_messages (alarm_id, locale, message) values (${a!.id}, 'ko', ${'n' + i})`
      }
    })
    const res = await h.herald.app.handle(new Request('http://localhost/connection/slow-reader?since=0&lang=ko'))
    const reader = res.body!.getReader()
    const before = h.herald.fetcher.stats.requests
    await reader.read() // open frame
    await reader.read() // ready
    await reader.read() // first alarm: one page (100) is now queued
    // Two round trips through the fetcher: a pull started meanwhile would have queued before these.
    await h.herald.fetcher.fetch('nobody', 0)
    await h.herald.fetcher.fetch('nobody', 0)
    // The position for `ready` (its badge), one page, and the two above: no second page.
    expect(h.herald.fetcher.stats.requests - before).toBe(1 + 1 + 2)
    // Reading on gets every alarm, in order.
    const decoder = new TextDecoder()
    let seen = 1
    let last = ''
    while (seen < 250) {
      const { value } = await reader.read()
      const text = decoder.decode(value)
      if (text.includes('event: alarm')) (seen++, (last = text))
    }
    expect(last).toContain('id: 250\n')
    await reader.cancel()
  })
})

describe('heartbeats', () => {
  test('an idle stream sends heartbeat comments every HERALD_HEARTBEAT_MS', async () => {
    await using fast = await testHerald('heartbeat', { heartbeatMs: 60 })
    const sub = await fast.subscribe('idle', { lang: 'ko' })
    await sub.next() // open
    await sub.next() // ready
    const started = performance.now()
    const beats = [await sub.next(), await sub.next(), await sub.next()]
    const elapsed = performance.now() - started
    for (const beat of beats) expect(beat?.raw).toBe(': heartbeat\n\n')
    // Not a flood: a stream beats once it has been quiet for three quarters of the interval (45 ms
    // here), so between the first beat and the third lie at least two such gaps, 90 ms (less a
    // little timer jitter). The first may come at once (ready was read late). A stall would leave
    // the awaits above hanging until the test's timeout; an upper bound on a loaded machine would
    // only add flakiness.
    expect(elapsed).toBeGreaterThan(80)
    await sub.cancel()
  })
})
