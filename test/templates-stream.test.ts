// Template alarms on the stream: rendered when read, in the stream's language and time zone, with
// the key's current texts; written by SQL too, a bad row included; random params never break a
// stream; and a change on one instance reaching another.
import { afterAll, beforeAll, describe, expect, test } from 'bun:test'
import fc from 'fast-check'
import { ConfigError, readConfig } from '../src/config'
import { startServer, type RunningServer } from '../src/http/server'
import type { AlarmRow } from '../src/store/alarms'
import { alarmFrame, alarmLocales, renderMessage } from '../src/stream/render'
import { createCatalogue } from '../src/templates/catalogue'
import { defineTemplate } from '../src/templates/define'
import { nextAlarm, quiet, ready, testHerald, type TestHerald } from './helpers/herald'
import { readSse, type SseReader } from './helpers/sse'

let h: TestHerald
beforeAll(async () => {
  h = await testHerald('templates_stream', { publishRate: 0, reconnectBurst: 10_000, reconnectPerMinute: 600_000 })
})
afterAll(async () => {
  await h[Symbol.asyncDispose]()
})

const reservation = {
  en: '{seats, plural, one {# seat} other {# seats}} reserved for {at, date, medium}, {at, time, short}',
  ko: '{at, date, medium} {at, time, short}에 {seats}석이 예약되었습니다',
  ru: '{seats, plural, one {# место} few {# места} many {# мест} other {# места}} на {at, date, medium}, {at, time, short}',
  ar: '{seats, plural, zero {لا مقاعد} one {مقعد واحد} two {مقعدان} few {# مقاعد} many {# مقعدًا} other {# مقعد}} ({at, time, ::H})',
}
const at = '2026-12-12T10:30:00Z'

async function put(server: { url: string }, key: string, messages: Record<string, string>) {
  const res = await fetch(new URL(`/templates/${key}`, server.url), {
    method: 'PUT',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ messages }),
  })
  if (res.status >= 300) throw new Error(`PUT ${key}: ${res.status} ${await res.text()}`)
  return res.json()
}

async function publishTo(server: { url: string }, body: unknown) {
  const res = await fetch(new URL('/alarms', server.url), { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) })
  if (res.status !== 201) throw new Error(`POST /alarms: ${res.status} ${await res.text()}`)
  return (await res.json()) as { id: number; seq: number }
}

async function stream(server: { url: string }, userId: string, query: Record<string, string>): Promise<SseReader> {
  const url = new URL(`/connection/${userId}`, server.url)
  for (const [name, value] of Object.entries(query)) url.searchParams.set(name, value)
  const sub = readSse(await fetch(url))
  await ready(sub)
  return sub
}

beforeAll(async () => {
  await put(h, 'reservation.confirmed', reservation)
})

describe('rendered when read', () => {
  test('in the stream’s language and time zone, carrying the template’s key', async () => {
    const ru = await stream(h, 'reader', { lang: 'ru', tz: 'Asia/Seoul' })
    const published = await publishTo(h, { userId: 'reader', template: 'reservation.confirmed', params: { seats: 3, at }, data: { reservationId: 17 } })
    const alarm = await nextAlarm(ru)
    expect(alarm).toEqual({
      id: published.id,
      seq: published.seq,
      locale: 'ru',
      message: '3 места на 12 дек. 2026 г., 19:30',
      template: 'reservation.confirmed',
      data: { reservationId: 17 },
      createdAt: expect.any(String),
      eventId: String(published.seq),
    } as never)
    await ru.cancel()

    // The same alarm, read again elsewhere: another language, another zone.
    for (const [lang, tz, message] of [
      ['en-US', 'America/Los_Angeles', '3 seats reserved for Dec 12, 2026, 2:30 AM'],
      ['ko', 'Asia/Seoul', '2026년 12월 12일 오후 7:30에 3석이 예약되었습니다'],
      ['ar', 'UTC', '3 مقاعد (10)'],
      ['ja', 'Asia/Tokyo', '3 seats reserved for Dec 12, 2026, 7:30 PM'], // no ja text: the default's (en), in Tokyo's time
    ] as const) {
      const again = await stream(h, 'reader', { lang, tz, since: String(published.seq - 1) })
      expect(await nextAlarm(again)).toMatchObject({ locale: lang === 'ja' ? 'en' : lang === 'en-US' ? 'en' : lang, message })
      await again.cancel()
    }
  })

  test('without tz, HERALD_DEFAULT_TIME_ZONE (UTC unless set)', async () => {
    const published = await publishTo(h, { userId: 'no-tz', template: 'reservation.confirmed', params: { seats: 1, at } })
    const plain = await stream(h, 'no-tz', { lang: 'en', since: String(published.seq - 1) })
    expect((await nextAlarm(plain)).message).toBe('1 seat reserved for Dec 12, 2026, 10:30 AM')
    await plain.cancel()

    await using seoul = await testHerald('templates_default_zone', { defaultTimeZone: 'Asia/Seoul' })
    await put(seoul, 'reservation.confirmed', reservation)
    const first = await publishTo(seoul, { userId: 'no-tz', template: 'reservation.confirmed', params: { seats: 1, at } })
    const inSeoul = await stream(seoul, 'no-tz', { lang: 'en', since: String(first.seq - 1) })
    expect((await nextAlarm(inSeoul)).message).toBe('1 seat reserved for Dec 12, 2026, 7:30 PM')
    await inSeoul.cancel()
  })

  test('Arabic gets its six plural categories on the stream', async () => {
    const ar = await stream(h, 'arabic', { lang: 'ar' })
    for (const seats of [0, 1, 2, 3, 11, 100]) await publishTo(h, { userId: 'arabic', template: 'reservation.confirmed', params: { seats, at } })
    const messages = []
    for (let i = 0; i < 6; i++) messages.push((await nextAlarm(ar)).message)
    expect(messages).toEqual(['لا مقاعد', 'مقعد واحد', 'مقعدان', '3 مقاعد', '11 مقعدًا', '100 مقعد'].map((text) => `${text} (10)`))
    await ar.cancel()
  })

  test('old alarms are rendered with the key’s current texts: a translation added later shows on them', async () => {
    await put(h, 'greeting', { en: 'Hello {name}' })
    const first = await publishTo(h, { userId: 'later', template: 'greeting', params: { name: 'Mina' } })
    const before = await stream(h, 'later', { lang: 'ko', since: '0' })
    expect(await nextAlarm(before)).toMatchObject({ seq: first.seq, locale: 'en', message: 'Hello Mina' })
    await before.cancel()

    await put(h, 'greeting', { en: 'Hello, {name}!', ko: '{name}님, 안녕하세요!' })
    const after = await stream(h, 'later', { lang: 'ko', since: '0' })
    expect(await nextAlarm(after)).toMatchObject({ seq: first.seq, locale: 'ko', message: 'Mina님, 안녕하세요!', template: 'greeting' })
    await after.cancel()
  })

  test('?tz must be an IANA name: 400 INVALID_TIME_ZONE otherwise; names are canonicalized', async () => {
    for (const tz of ['+09:00', 'UTC+9', 'Mars/Olympus', '', 'Asia/Seoul\n']) {
      const res = await fetch(new URL(`/connection/tz-user?tz=${encodeURIComponent(tz)}`, h.url))
      expect(res.status).toBe(400)
      expect((await res.json()).error.code).toBe('INVALID_TIME_ZONE')
    }
    const published = await publishTo(h, { userId: 'tz-user', template: 'reservation.confirmed', params: { seats: 2, at } })
    const lower = await stream(h, 'tz-user', { lang: 'en', tz: 'asia/seoul', since: String(published.seq - 1) })
    expect((await nextAlarm(lower)).message).toBe('2 seats reserved for Dec 12, 2026, 7:30 PM')
    await lower.cancel()
  })

  test('HERALD_DEFAULT_TIME_ZONE is read once, IANA names only', () => {
    expect(readConfig({}).defaultTimeZone).toBe('UTC')
    expect(readConfig({ HERALD_DEFAULT_TIME_ZONE: 'asia/seoul' }).defaultTimeZone).toBe('Asia/Seoul')
    expect(() => readConfig({ HERALD_DEFAULT_TIME_ZONE: '+09:00' })).toThrow(ConfigError)
    expect(() => readConfig({ HERALD_DEFAULT_TIME_ZONE: 'Nowhere/Town' })).toThrow('HERALD_DEFAULT_TIME_ZONE')
  })
})

describe('frames', () => {
  test('encoded once per (alarm, locale, time zone); a text alarm’s once per (alarm, locale)', async () => {
    const messages = { en: reservation.en, ko: reservation.ko }
    const catalogue = createCatalogue(async (keys) =>
      keys.map((key) => ({ key, version: 1, messages, arguments: defineTemplate(messages).arguments, description: null, createdAt: '', updatedAt: '' })),
    )
    const row: AlarmRow = { kind: 'alarm', id: 7, seq: 3, locales: [], messages: [], dataJson: '{}', createdAt: at, template: { key: 'r', params: JSON.stringify({ seats: 2, at }) } }
    await catalogue.resolve([[row]])
    expect(alarmLocales(row)).toEqual(['en', 'ko'])
    const seoul = alarmFrame(row, ['ko'], 'en', 'Asia/Seoul')!
    expect(alarmFrame(row, ['ko-KR', 'ko'], 'en', 'Asia/Seoul')).toBe(seoul) // the same bytes, not a copy
    expect(alarmFrame(row, ['ko'], 'en', 'UTC')).not.toBe(seoul)
    expect(new TextDecoder().decode(seoul)).toBe(
      'id: 3\nevent: alarm\ndata: {"id":7,"seq":3,"locale":"ko","message":"2026년 12월 12일 오후 7:30에 2석이 예약되었습니다","template":"r","data":{},"createdAt":"2026-12-12T10:30:00Z"}\n\n',
    )
    expect(renderMessage(row, 'en', 'UTC')).toEqual({ message: '2 seats reserved for Dec 12, 2026, 10:30 AM' })

    const text: AlarmRow = { kind: 'alarm', id: 8, seq: 4, locales: ['en'], messages: ['plain'], dataJson: '{}', createdAt: at }
    expect(alarmFrame(text, ['en'], 'en', 'Asia/Seoul')).toBe(alarmFrame(text, ['en'], 'en', 'UTC')!)
    expect(renderMessage(text, 'en', 'UTC')).toEqual({ message: 'plain' })
  })
})

describe('direct SQL writers', () => {
  test('insert alarms (user_id, template_key, params): delivered rendered, like a published one', async () => {
    const sub = await stream(h, 'sql-writer', { lang: 'ru', tz: 'Europe/Moscow' })
    await h.db.sql`insert into alarms (user_id, template_key, params) values ('sql-writer', 'reservation.confirmed', ${h.db.sql.json({ seats: 5, at })})`
    expect(await nextAlarm(sub)).toMatchObject({ locale: 'ru', message: '5 мест на 12 дек. 2026 г., 13:30', template: 'reservation.confirmed' })
    await sub.cancel()
  })

  test('a row whose params no longer fit still arrives, with {name} and renderError; the stream goes on', async () => {
    const sub = await stream(h, 'sql-bad', { lang: 'en' })
    await h.db.sql`insert into alarms (user_id, template_key, params) values ('sql-bad', 'reservation.confirmed', ${h.db.sql.json({ seats: 'three' })})`
    await h.db.sql`insert into alarms (user_id, template_key) values ('sql-bad', 'reservation.confirmed')`
    await publishTo(h, { userId: 'sql-bad', template: 'reservation.confirmed', params: { seats: 1, at } }) // the barrier
    expect(await nextAlarm(sub)).toMatchObject({ message: '{seats} reserved for {at}, {at}', template: 'reservation.confirmed', renderError: 'INVALID_PARAMS' })
    expect(await nextAlarm(sub)).toMatchObject({ message: '{seats} reserved for {at}, {at}', renderError: 'INVALID_PARAMS' })
    const good = await nextAlarm(sub)
    expect(good.message).toBe('1 seat reserved for Dec 12, 2026, 10:30 AM')
    expect('renderError' in good).toBe(false)
    await sub.cancel()
  })

  test('an unknown template_key, or a template and texts together, is refused at commit', async () => {
    const refused = async (run: () => Promise<unknown>) => {
      try {
        await run()
      } catch (error) {
        return (error as { code?: string }).code
      }
      return 'committed'
    }
    expect(await refused(() => h.db.sql`insert into alarms (user_id, template_key, params) values ('sql-x', 'no.such.key', '{}')`)).toBe('23503')
    expect(
      await refused(() =>
        h.db.sql.begin(async (tx) => {
          const [row] = await tx`insert into alarms (user_id, template_key) values ('sql-x', 'greeting') returning id`
          await tx`insert into alarm_messages (alarm_id, locale, message) values (${row!.id}, 'en', 'both')`
        }),
      ),
    ).toBe('23514')
    expect(await refused(() => h.db.sql`insert into alarms (user_id, params) values ('sql-x', '{"a":1}')`)).toBe('23514')
    // A template created in the same transaction as its first alarm is fine: the key is checked at commit.
    expect(
      await refused(() =>
        h.db.sql.begin(async (tx) => {
          await tx`insert into alarms (user_id, template_key, params) values ('sql-x', 'made.here', '{}')`
          await tx`insert into templates (key, messages, arguments) values ('made.here', '{"en":"made here"}', '{}')`
        }),
      ),
    ).toBe('committed')
    const [row] = await h.db.sql`select count(*)::int as n from alarms where user_id = 'sql-x'`
    expect(row!.n).toBe(1)
    // A template in use cannot be deleted.
    expect(await refused(() => h.db.sql`delete from templates where key = 'made.here'`)).toBe('23503')
  })

  test('property: random stored params never break a stream; every row arrives, in order', async () => {
    await put(h, 'anything', {
      en: '{who} · {n, plural, one {# item} other {# items}} · {at, date, medium} · {kind, select, a {A} other {other}} · {p, number, ::currency/EUR}',
      ko: '{who} {n}개 {at} {kind} {p}',
    })
    const json = fc.jsonValue({ maxDepth: 2 })
    const param = fc.oneof(json, fc.string(), fc.double(), fc.integer(), fc.constantFrom(1e308, -0, 8.64e15, 8.64e15 + 1, '2026-12-12T10:30:00Z', '9999-99-99T99:99Z', '\u0000', '\ud800'))
    const params = fc.oneof(
      fc.record({ who: param, n: param, at: param, kind: param, p: param }, { requiredKeys: [] }),
      fc.dictionary(fc.string({ maxLength: 10 }), param, { maxKeys: 6 }),
    )
    const cases = fc.sample(fc.array(params, { minLength: 1, maxLength: 8 }), { numRuns: 25, seed: 15 })
    let user = 0
    for (const batch of cases) {
      const userId = `prop-${user++}`
      const sub = await stream(h, userId, { lang: user % 2 ? 'en' : 'ko', tz: user % 3 ? 'Asia/Seoul' : 'America/New_York' })
      for (const value of batch) {
        // What jsonb cannot hold (NUL, lone surrogates) is refused by PostgreSQL itself: not a row.
        await h.db.sql`insert into alarms (user_id, template_key, params) values (${userId}, 'anything', ${h.db.sql.json(value as never)})`.catch(() => undefined)
      }
      await publishTo(h, { userId, template: 'anything', params: { who: 'end', n: 1, at, kind: 'a', p: 1 } })
      const [stored] = await h.db.sql`select count(*)::int as n from alarms where user_id = ${userId}`
      const seen: number[] = []
      for (let i = 0; i < stored!.n; i++) {
        const alarm = await nextAlarm(sub)
        expect(typeof alarm.message).toBe('string')
        expect(alarm.message.length).toBeGreaterThan(0)
        seen.push(alarm.seq)
      }
      expect(seen).toEqual(Array.from({ length: stored!.n }, (_, i) => i + 1))
      await sub.cancel()
    }
  }, 60_000)
})

describe('a change on one instance', () => {
  let b: RunningServer
  beforeAll(async () => {
    const config = { ...readConfig({}), databaseUrl: h.db.url, port: 0, hostname: '127.0.0.1' }
    b = await startServer(config, { log: quiet, overrides: { safetyPollMs: 0 } })
  })
  afterAll(async () => {
    await b.stop()
  })

  test('reaches the other instance within 1 s: the next alarm there renders with the new text', async () => {
    await put(b, 'shared.key', { en: 'first text {n, number}' })
    const onA = await stream(h, 'across', { lang: 'en' })
    await publishTo(b, { userId: 'across', template: 'shared.key', params: { n: 1 } })
    expect((await nextAlarm(onA)).message).toBe('first text 1') // A now keeps the key
    expect(h.herald.templates.stats.templates).toBeGreaterThan(0)

    await put(b, 'shared.key', { en: 'second text {n, number}' })
    const changed = performance.now()
    await publishTo(b, { userId: 'across', template: 'shared.key', params: { n: 2 } })
    expect((await nextAlarm(onA)).message).toBe('second text 2')
    expect(performance.now() - changed).toBeLessThan(1000)
    await onA.cancel()
  })

  test('a change written by hand in SQL is announced too', async () => {
    await put(h, 'by.hand', { en: 'before {n, number}' })
    const onB = await stream(b, 'by-hand', { lang: 'en' })
    await publishTo(h, { userId: 'by-hand', template: 'by.hand', params: { n: 1 } })
    expect((await nextAlarm(onB)).message).toBe('before 1')
    await h.db.sql`update templates set messages = '{"en": "after {n, number}"}', version = version + 1 where key = 'by.hand'`
    await publishTo(h, { userId: 'by-hand', template: 'by.hand', params: { n: 2 } })
    expect((await nextAlarm(onB)).message).toBe('after 2')
    await onB.cancel()
  })
})

describe('a change on one instance, with Redis carrying the signals', () => {
  test('commits quietly and reaches the other instance through Redis', async () => {
    const redisUrl = process.env.REDIS_URL ?? 'redis://127.0.0.1:6379'
    const redisPrefix = `herald-test-${crypto.randomUUID()}:`
    await using a = await testHerald('templates_redis', { redisUrl, redisPrefix })
    const config = { ...readConfig({}), databaseUrl: a.db.url, port: 0, hostname: '127.0.0.1' }
    const b = await startServer(config, { log: quiet, overrides: { safetyPollMs: 0, redisUrl, redisPrefix } })
    try {
      expect([a.herald.signals.backend, b.herald.signals.backend]).toEqual(['redis', 'redis'])
      await put(b, 'via.redis', { en: 'one {n, number}' })
      const onA = await stream(a, 'redis-reader', { lang: 'en' })
      await publishTo(b, { userId: 'redis-reader', template: 'via.redis', params: { n: 1 } })
      expect((await nextAlarm(onA)).message).toBe('one 1')
      await put(b, 'via.redis', { en: 'two {n, number}' })
      await publishTo(b, { userId: 'redis-reader', template: 'via.redis', params: { n: 2 } })
      expect((await nextAlarm(onA)).message).toBe('two 2')
      await onA.cancel()
    } finally {
      await b.stop()
    }
  })
})

describe('the demo’s templates', () => {
  test('are seeded when the demo is on, through PUT’s checks, and render as the README shows', async () => {
    await using demo = await testHerald('templates_demo', { demo: true })
    const list = await (await fetch(new URL('/templates', demo.url))).json()
    expect(list.templates.map((t: { key: string }) => t.key)).toEqual(['comment.added', 'order.shipped', 'reservation.confirmed'])
    expect(demo.herald.available.list).toEqual(expect.arrayContaining(['ar', 'en', 'ja', 'ko', 'ru']))
    const sub = await stream(demo, 'tiaz', { lang: 'ru', tz: 'Asia/Seoul' })
    await publishTo(demo, { userId: 'tiaz', template: 'reservation.confirmed', params: { seats: 3, at }, data: { reservationId: 17 } })
    expect((await nextAlarm(sub)).message).toBe('Забронировано 3 места на 12 дек. 2026 г., 19:30')
    await publishTo(demo, { userId: 'tiaz', template: 'comment.added', params: { actor: 'Mina', count: 39 } })
    expect((await nextAlarm(sub)).message).toBe('Mina и ещё 39 человек прокомментировали')
    await sub.cancel()
    // An edited demo template stays edited across a restart: seeding only adds missing keys.
    await demo.db.sql`update templates set messages = '{"en": "{count, number} {actor}"}', version = 2 where key = 'comment.added'`
    const again = await startServer({ ...readConfig({}), databaseUrl: demo.db.url, port: 0, hostname: '127.0.0.1', demo: true }, { log: quiet })
    const [row] = await demo.db.sql`select version from templates where key = 'comment.added'`
    expect(row!.version).toBe(2)
    await again.stop()
  })
})
