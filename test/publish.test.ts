import { afterAll, beforeAll, describe, expect, test } from 'bun:test'
import postgres from 'postgres'
import { createDb } from '../src/store/db'
import { healthRoutes } from '../src/http/routes/health'
import { testHerald, type TestHerald } from './helpers/herald'

let h: TestHerald
beforeAll(async () => {
  h = await testHerald('publish')
})
afterAll(async () => {
  await h[Symbol.asyncDispose]()
})

const reservation = {
  userId: 'tiaz',
  messages: {
    ko: '예약에 성공했습니다!',
    'en-us': 'I have successfully made a reservation.',
    ja: '予約に成功しました',
  },
  data: { reservationId: 17 },
}

async function counts() {
  const [row] = await h.db.sql<{ alarms: number; messages: number }[]>`
    select (select count(*)::int from alarms) as alarms, (select count(*)::int from alarm_messages) as messages`
  return row!
}

describe('POST /alarms', () => {
  test('stores the alarm with canonical locales and answers 201', async () => {
    const res = await h.publish({ ...reservation, userId: 'publish-ok' })
    expect(res.status).toBe(201)
    const body = await res.json()
    expect(body).toEqual({
      id: expect.any(Number),
      userId: 'publish-ok',
      seq: 1,
      locales: ['en-US', 'ja', 'ko'],
      createdAt: expect.stringMatching(/^\d{4}-\d\d-\d\dT/),
    })
    const rows = await h.db.sql`select locale, message from alarm_messages where alarm_id = ${body.id} order by locale`
    expect(rows.map((r) => r.locale)).toEqual(['en-US', 'ja', 'ko'])
  })

  test('seq grows per user, independently of other users', async () => {
    const seqs = []
    for (const userId of ['seq-a', 'seq-a', 'seq-b', 'seq-a'])
      seqs.push((await (await h.publish({ ...reservation, userId })).json()).seq)
    expect(seqs).toEqual([1, 2, 1, 3])
  })

  test('the same key again returns the same alarm with 200 and stores nothing new', async () => {
    const body = { ...reservation, userId: 'idem', key: 'order-17' }
    const first = await h.publish(body)
    expect(first.status).toBe(201)
    const before = await counts()
    // Same content, keys in another order, locale in another case: still the same alarm.
    const again = await h.publish({
      key: 'order-17',
      data: { reservationId: 17 },
      messages: { ja: reservation.messages.ja, 'en-US': reservation.messages['en-us'], ko: reservation.messages.ko },
      userId: 'idem',
    })
    expect(again.status).toBe(200)
    expect(await again.json()).toEqual(await first.json())
    expect(await counts()).toEqual(before)
  })

  test('the same key with a different body is a 409, and nothing is stored', async () => {
    await h.publish({ ...reservation, userId: 'idem2', key: 'k' })
    const before = await counts()
    const res = await h.publish({ ...reservation, userId: 'idem2', key: 'k', data: { reservationId: 18 } })
    expect(res.status).toBe(409)
    expect((await res.json()).error.code).toBe('IDEMPOTENCY_CONFLICT')
    expect(await counts()).toEqual(before)
  })

  test('concurrent publishes with one key store one alarm', async () => {
    const body = { ...reservation, userId: 'idem-race', key: 'once' }
    const responses = await Promise.all(Array.from({ length: 8 }, () => h.publish(body)))
    const statuses = responses.map((r) => r.status).sort()
    expect(statuses).toEqual([200, 200, 200, 200, 200, 200, 200, 201])
    const ids = new Set(await Promise.all(responses.map(async (r) => (await r.json()).id)))
    expect(ids.size).toBe(1)
    const [row] = await h.db.sql`select count(*)::int as n from alarms where user_id = 'idem-race'`
    expect(row!.n).toBe(1)
  })

  test('the same key for another user is another alarm', async () => {
    const a = await h.publish({ ...reservation, userId: 'key-a', key: 'shared' })
    const b = await h.publish({ ...reservation, userId: 'key-b', key: 'shared' })
    expect([a.status, b.status]).toEqual([201, 201])
  })

  const bad: [string, unknown, number, string, string][] = [
    ['the seed\'s US-en tag', { ...reservation, messages: { 'US-en': 'x' } }, 400, 'INVALID_LOCALE', 'US-en'],
    ['a malformed tag', { ...reservation, messages: { en_US: 'x' } }, 400, 'INVALID_LOCALE', 'en_US'],
    ['a wildcard tag', { ...reservation, messages: { '*': 'x' } }, 400, 'INVALID_LOCALE', '*'],
    ['empty messages', { ...reservation, messages: {} }, 400, 'INVALID_BODY', 'messages'],
    ['missing messages', { userId: 'x' }, 400, 'INVALID_BODY', 'messages'],
    ['messages as an array', { ...reservation, messages: ['x'] }, 400, 'INVALID_BODY', 'messages'],
    ['an empty text', { ...reservation, messages: { ko: '' } }, 400, 'INVALID_BODY', 'messages.ko'],
    ['a text over 4,000 characters', { ...reservation, messages: { ko: 'x'.repeat(4001) } }, 400, 'INVALID_BODY', 'messages.ko'],
    ['a text that is not a string', { ...reservation, messages: { ko: 5 } }, 400, 'INVALID_BODY', 'messages.ko'],
    ['one locale twice', { ...reservation, messages: { 'en-US': 'a', 'en-us': 'b' } }, 400, 'INVALID_BODY', 'en-us'],
    ['an unknown field', { ...reservation, priority: 1 }, 400, 'INVALID_BODY', 'priority'],
    ['a numeric userId', { ...reservation, userId: 5 }, 400, 'INVALID_BODY', 'userId'],
    ['an empty userId', { ...reservation, userId: '' }, 400, 'INVALID_USER_ID', 'userId'],
    ['a userId over 200 characters', { ...reservation, userId: 'u'.repeat(201) }, 400, 'INVALID_USER_ID', 'userId'],
    ['a userId with a control character', { ...reservation, userId: 'a\nb' }, 400, 'INVALID_USER_ID', 'userId'],
    ['the userId . (no path can name it)', { ...reservation, userId: '.' }, 400, 'INVALID_USER_ID', 'userId'],
    ['the userId ..', { ...reservation, userId: '..' }, 400, 'INVALID_USER_ID', 'userId'],
    ['data that is not an object', { ...reservation, data: [1] }, 400, 'INVALID_BODY', 'data'],
    ['data holding NUL', { ...reservation, data: { a: 'x\u0000' } }, 400, 'INVALID_BODY', 'data.a'],
    ['data nested too deep', { ...reservation, data: JSON.parse('{"a":'.repeat(40) + '1' + '}'.repeat(40)) }, 400, 'INVALID_BODY', 'data'],
    ['a key that is not a string', { ...reservation, key: 7 }, 400, 'INVALID_BODY', 'key'],
    ['an empty key', { ...reservation, key: '' }, 400, 'INVALID_BODY', 'key'],
    ['a key holding NUL', { ...reservation, key: 'a\u0000b' }, 400, 'INVALID_BODY', 'key'],
    ['a key with a lone high surrogate', { ...reservation, key: 'a\ud800b' }, 400, 'INVALID_BODY', 'key'],
    ['a key with a lone low surrogate', { ...reservation, key: 'a\udc00b' }, 400, 'INVALID_BODY', 'key'],
    ['a JSON array body', [reservation], 400, 'INVALID_BODY', 'body'],
    ['a JSON null body', null, 400, 'INVALID_BODY', 'body'],
  ]

  test.each(bad)('rejects %s with %i %s naming the field, storing nothing', async (_, body, status, code, named) => {
    const before = await counts()
    const res = await h.publish(body)
    expect(res.status).toBe(status)
    expect(res.headers.get('content-type')).toContain('application/json')
    const json = await res.json()
    expect(json.error.code).toBe(code)
    expect(json.error.message).toContain(named)
    expect(await counts()).toEqual(before)
  })

  test('keys differing only in lone surrogates do not collide: both are refused, nothing is stored', async () => {
    // PostgreSQL's UTF-8 cannot hold a lone surrogate: the driver would store U+FFFD for each, and
    // the second key would find the first alarm.
    const before = await counts()
    for (const key of ['a\ud800b', 'a\udbffb']) {
      const res = await h.publish({ ...reservation, userId: 'surrogate-keys', key })
      expect(res.status).toBe(400)
      expect((await res.json()).error).toMatchObject({ code: 'INVALID_BODY', message: expect.stringContaining('key') })
    }
    expect(await counts()).toEqual(before)
  })

  const rawBody = (data: string) => `{"userId":"numbers","messages":{"ko":"x"},"data":${data}}`

  test.each([
    ['an integer beyond 2^53', '{"n":12345678901234567890}', 'data.n', '12345678901234567890'],
    ['a number beyond double range', '{"n":1e309}', 'data.n', '1e309'],
    ['a negative one', '{"n":-1e309}', 'data.n', '-1e309'],
    ['one too small to be anything but 0', '{"n":1e-400}', 'data.n', '1e-400'],
    ['more digits than a double keeps', '{"a":[1,{"b":0.10000000000000000001}]}', 'data.a[1].b', '0.10000000000000000001'],
  ])('refuses %s in data with 400 INVALID_BODY naming the path and the number, storing nothing', async (_, data, path, number) => {
    const before = await counts()
    const res = await h.publish(rawBody(data))
    expect(res.status).toBe(400)
    const { error } = await res.json()
    expect(error.code).toBe('INVALID_BODY')
    expect(error.message).toContain(`${path}: ${number} cannot be stored exactly`)
    expect(await counts()).toEqual(before)
  })

  test('stores numbers a double holds exactly by value: 1.0 as 1, 1e2 as 100, -0 as 0', async () => {
    const res = await h.publish(rawBody('{"a":1.0,"b":1e2,"c":-0,"d":0.1,"e":5e-324,"f":1e21,"g":-12.50,"h":123e-20}'))
    expect(res.status).toBe(201)
    const { id } = await res.json()
    const [row] = await h.db.sql`select data::text as data from alarms where id = ${id}`
    expect(JSON.parse(row!.data)).toEqual({ a: 1, b: 100, c: 0, d: 0.1, e: 5e-324, f: 1e21, g: -12.5, h: 1.23e-18 })
  })

  test('rejects invalid JSON with 400 INVALID_JSON', async () => {
    const res = await h.publish('{"userId": ')
    expect(res.status).toBe(400)
    expect((await res.json()).error.code).toBe('INVALID_JSON')
  })

  test('rejects a body over 64 KiB with 413, storing nothing', async () => {
    const before = await counts()
    const res = await h.publish({ ...reservation, data: { blob: 'x'.repeat(70_000) } })
    expect(res.status).toBe(413)
    expect((await res.json()).error.code).toBe('PAYLOAD_TOO_LARGE')
    expect(await counts()).toEqual(before)
  })

  test('rejects a body that is not JSON by content type with 415', async () => {
    const res = await fetch(new URL('/alarms', h.url), { method: 'POST', body: 'x', headers: { 'content-type': 'text/plain' } })
    expect(res.status).toBe(415)
    expect((await res.json()).error.code).toBe('UNSUPPORTED_MEDIA_TYPE')
  })

  test.each([
    ['GET', '/alarms', 'POST'],
    ['PUT', '/alarms', 'POST'],
    ['POST', '/connection/u', 'GET'],
    ['DELETE', '/health', 'GET'],
  ])('%s %s is a JSON 405 that names the allowed method', async (method, path, allowed) => {
    const res = await fetch(new URL(path, h.url), { method })
    expect(res.status).toBe(405)
    expect(res.headers.get('allow')).toBe(allowed)
    expect((await res.json()).error.code).toBe('METHOD_NOT_ALLOWED')
  })

  test('an unknown route is a JSON 404', async () => {
    const res = await fetch(new URL('/nope', h.url))
    expect(res.status).toBe(404)
    expect((await res.json()).error.code).toBe('NOT_FOUND')
  })
})

describe('direct SQL writers', () => {
  test('an insert into alarms and alarm_messages gets id, seq and created_at from Herald', async () => {
    const writer = postgres(h.db.url, { max: 1, onnotice: () => {} })
    try {
      const id = await writer.begin(async (tx) => {
        const [alarm] = await tx`insert into alarms (user_id, data) values ('sql-user', ${tx.json({ a: 1 })}) returning id`
        await tx`insert into alarm_messages (alarm_id, locale, message) values (${alarm!.id}, 'ko', '안녕'), (${alarm!.id}, 'en-us', 'hi')`
        return alarm!.id
      })
      const [row] = await writer`select seq, created_at from alarms where id = ${id}`
      expect(Number(row!.seq)).toBe(1)
      expect(row!.created_at).toBeInstanceOf(Date)
    } finally {
      await writer.end()
    }
  })

  test('an alarm without any message is refused at commit, leaving nothing', async () => {
    const writer = postgres(h.db.url, { max: 1, onnotice: () => {} })
    try {
      const attempt = writer.begin((tx) => tx`insert into alarms (user_id) values ('no-text') returning id`)
      await expect(attempt).rejects.toThrow(/has no row in alarm_messages/)
      const [row] = await writer`select count(*)::int as n from alarms where user_id = 'no-text'`
      expect(row!.n).toBe(0)
    } finally {
      await writer.end()
    }
  })

  test('a broadcast in one transaction is checked by index, not by one scan per alarm (no quadratic commit)', async () => {
    const writer = postgres(h.db.url, { max: 1, onnotice: () => {} })
    const scans = async () => {
      await writer`select pg_stat_force_next_flush()`
      const [row] = await writer`
        select coalesce(sum(seq_scan), 0)::int as n from pg_stat_user_tables
        where schemaname = current_schema() and relname in ('alarms', 'alarm_messages')`
      return row!.n
    }
    try {
      const before = await scans()
      await writer`
        with a as (insert into alarms (user_id) select 'bc-' || i from generate_series(1, 400) i returning id)
        insert into alarm_messages (alarm_id, locale, message) select id, 'ko', 'broadcast' from a`
      // A cached generic plan would scan both tables once per alarm at commit: 800 scans here.
      expect((await scans()) - before).toBeLessThan(40)
      const [row] = await writer`select count(*)::int as n from alarms where user_id like 'bc-%'`
      expect(row!.n).toBe(400)
    } finally {
      await writer.end()
    }
  })

  test('a malformed locale or an empty message is refused by the database', async () => {
    const writer = postgres(h.db.url, { max: 1, onnotice: () => {} })
    try {
      for (const [locale, message] of [['en US', 'x'], ['ko', '']]) {
        const attempt = writer.begin(async (tx) => {
          const [a] = await tx`insert into alarms (user_id) values ('bad-sql') returning id`
          await tx`insert into alarm_messages (alarm_id, locale, message) values (${a!.id}, ${locale!}, ${message!})`
        })
        await expect(attempt).rejects.toThrow(/check constraint/)
      }
    } finally {
      await writer.end()
    }
  })
})

describe('GET /health', () => {
  test('is ok while PostgreSQL answers', async () => {
    const res = await fetch(new URL('/health', h.url))
    expect(res.status).toBe(200)
    expect(await res.json()).toEqual({ status: 'ok', signals: 'postgres' })
  })

  test('is 503 DATABASE_UNAVAILABLE when PostgreSQL does not answer, with no internals: the details go to the log', async () => {
    const dead = createDb('postgres://postgres@127.0.0.1:1/test', { max: 1 })
    const logged: unknown[] = []
    try {
      const health = healthRoutes({ ping: () => dead`select 1`, signals: () => 'postgres', onError: (e) => logged.push(e) })
      const res = await health.handle(new Request('http://localhost/health'))
      expect(res.status).toBe(503)
      const text = await res.text()
      expect(JSON.parse(text)).toEqual({
        status: 'unavailable',
        signals: 'postgres',
        error: { code: 'DATABASE_UNAVAILABLE', message: 'PostgreSQL does not answer' },
      })
      expect(text).not.toContain('127.0.0.1')
      expect(String(logged[0])).toContain('ECONNREFUSED')
    } finally {
      await dead.end({ timeout: 0 })
    }
  })
})
