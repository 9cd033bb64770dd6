// Many alarms at once (issue 17): POST /alarms/batch (any users, all or nothing, a key per alarm)
// and the fan-out, POST /alarms with userIds (one alarm per user, one key for all), on a real
// Herald and a real PostgreSQL.
import { afterAll, beforeAll, describe, expect, test } from 'bun:test'
import postgres from 'postgres'
import { MAX_BATCH_BYTES, MAX_FAN_OUT_BYTES } from '../src/http/batch-input'
import { parseMetrics } from './helpers/metrics'
import { rawClient, parseResponse } from './helpers/raw'
import { nextAlarm, ready, testHerald, until, type Subscription, type TestHerald } from './helpers/herald'
import { readConfig } from '../src/config'
import { startServer } from '../src/http/server'

let h: TestHerald
beforeAll(async () => {
  h = await testHerald('batch', { maxLocales: 40 })
  const res = await put('/templates/trip.delayed', { messages: { en: 'Flight {flight} is {minutes, number} minutes late', ko: '{flight}편이 {minutes}분 지연됩니다' } })
  expect(res.status).toBe(201)
})
afterAll(async () => {
  await h[Symbol.asyncDispose]()
})

const TEXTS = { ko: '예약에 성공했습니다!', 'en-US': 'I have successfully made a reservation.' }

function post(path: string, body: unknown, herald: TestHerald = h, headers: Record<string, string> = {}): Promise<Response> {
  return fetch(new URL(path, herald.url), {
    method: 'POST',
    headers: { 'content-type': 'application/json', ...headers },
    body: typeof body === 'string' ? body : JSON.stringify(body),
  })
}

function put(path: string, body: unknown): Promise<Response> {
  return fetch(new URL(path, h.url), { method: 'PUT', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) })
}

const batch = (alarms: unknown[], herald?: TestHerald) => post('/alarms/batch', { alarms }, herald)
const fanOut = (body: Record<string, unknown>, herald?: TestHerald) => post('/alarms', body, herald)

async function counts(herald: TestHerald = h) {
  const [row] = await herald.db.sql<{ alarms: number; messages: number; users: number }[]>`
    select (select count(*)::int from alarms) as alarms, (select count(*)::int from alarm_messages) as messages,
           (select count(*)::int from user_seqs) as users`
  return row!
}

async function errorOf(res: Response) {
  return { status: res.status, ...((await res.json()) as { error: { code: string; message: string } }).error }
}

describe('POST /alarms/batch', () => {
  test('stores every alarm and answers each as POST /alarms would, in input order, with its status', async () => {
    const single = await (await post('/alarms', { userId: 'shape', messages: TEXTS })).json()
    const res = await batch([
      { userId: 'b-one', messages: TEXTS, data: { n: 1 } },
      { userId: 'b-two', template: 'trip.delayed', params: { flight: 'KE17', minutes: 40 }, ttl: 600 },
      { userId: 'b-one', messages: { ja: '予約に成功しました' } },
    ])
    expect(res.status).toBe(201)
    const { alarms } = await res.json()
    expect(alarms).toEqual([
      { status: 201, id: expect.any(Number), userId: 'b-one', seq: 1, locales: ['en-US', 'ko'], createdAt: expect.any(String) },
      {
        status: 201,
        id: expect.any(Number),
        userId: 'b-two',
        seq: 1,
        locales: ['en', 'ko'],
        createdAt: expect.any(String),
        expiresAt: expect.any(String),
        template: 'trip.delayed',
      },
      { status: 201, id: expect.any(Number), userId: 'b-one', seq: 2, locales: ['ja'], createdAt: expect.any(String) },
    ])
    // Each entry is POST /alarms's answer, plus its status.
    const { status: _, ...entry } = alarms[0]
    expect(Object.keys(entry).sort()).toEqual(Object.keys(single).sort())
    // One transaction: one commit time.
    expect(new Set(alarms.map((a: { createdAt: string }) => a.createdAt)).size).toBe(1)
    expect(Date.parse(alarms[1].expiresAt) - Date.parse(alarms[1].createdAt)).toBe(600_000)
    const rows = await h.db.sql`select id, user_id, seq, data, template_key from alarms where id = any(${alarms.map((a: { id: number }) => a.id)}) order by id`
    expect(rows.map((r) => [Number(r.id), r.user_id, Number(r.seq)])).toEqual(alarms.map((a: { id: number; userId: string; seq: number }) => [a.id, a.userId, a.seq]))
    expect(rows[1]!.template_key).toBe('trip.delayed')
  })

  test('a batch of 1,000 is stored whole, answered in input order; each user’s seqs follow the input', async () => {
    const users = Array.from({ length: 1000 }, (_, i) => `thousand-${(i * 7919) % 37}`) // 37 users, interleaved
    const res = await batch(users.map((userId, i) => ({ userId, messages: { en: `alarm ${i}` }, data: { i } })))
    expect(res.status).toBe(201)
    const { alarms } = await res.json()
    expect(alarms.map((a: { userId: string }) => a.userId)).toEqual(users)
    const last = new Map<string, number>()
    for (const alarm of alarms) {
      expect(alarm.seq).toBe((last.get(alarm.userId) ?? 0) + 1)
      last.set(alarm.userId, alarm.seq)
    }
    const rows = await h.db.sql`
      select a.id, a.data->>'i' as i, m.message from alarms a join alarm_messages m on m.alarm_id = a.id
      where a.user_id like 'thousand-%' order by a.id`
    expect(rows.length).toBe(1000)
    const byId = new Map(rows.map((r) => [Number(r.id), r]))
    alarms.forEach((alarm: { id: number }, i: number) => {
      expect(byId.get(alarm.id)!.i).toBe(String(i))
      expect(byId.get(alarm.id)!.message).toBe(`alarm ${i}`)
    })
  })

  // Each kind of bad item, at index 2 of 4 valid ones: the error's own code, a message naming
  // alarms[2] and its field, and nothing stored.
  const good = (i: number) => ({ userId: `aon-${i}`, messages: TEXTS, key: `aon-${i}` })
  const BAD: [string, unknown, string, RegExp][] = [
    ['no texts', { userId: 'x' }, 'INVALID_BODY', /^alarms\[2\]\.messages: is required/],
    ['an unknown field', { ...good(9), color: 'red' }, 'INVALID_BODY', /^alarms\[2\]\.color: is not a known field/],
    ['userIds in an item', { userIds: ['x'], messages: TEXTS }, 'INVALID_BODY', /^alarms\[2\]\.userIds: is not a known field/],
    ['not an object', 42, 'INVALID_BODY', /^alarms\[2\]: must be a JSON object/],
    ['data not an object', { ...good(9), data: [1] }, 'INVALID_BODY', /^alarms\[2\]\.data: must be a JSON object/],
    ['an empty text', { userId: 'x', messages: { ko: '' } }, 'INVALID_BODY', /^alarms\[2\]\.messages\.ko: must not be empty/],
    ['a text too long', { userId: 'x', messages: { ko: 'x'.repeat(4001) } }, 'INVALID_BODY', /^alarms\[2\]\.messages\.ko: must be at most 4000/],
    ['an empty userId', { userId: '', messages: TEXTS }, 'INVALID_USER_ID', /^alarms\[2\]\.userId must not be empty/],
    ['a userId with a control character', { userId: 'a\nb', messages: TEXTS }, 'INVALID_USER_ID', /^alarms\[2\]\.userId must not contain control/],
    ['a bad locale', { userId: 'x', messages: { 'US-en': 'x' } }, 'INVALID_LOCALE', /^alarms\[2\]\.messages: 'US-en' is not a known BCP 47/],
    ['101 languages', { userId: 'x', messages: Object.fromEntries(Array.from({ length: 101 }, (_, i) => [`en-x-p${i}`, 'x'])) }, 'TOO_MANY_LOCALES', /^alarms\[2\]\.messages: too many languages/],
    ['an unknown template', { userId: 'x', template: 'no.such' }, 'UNKNOWN_TEMPLATE', /^alarms\[2\]\.template: no template 'no\.such'/],
    ['params that do not fit', { userId: 'x', template: 'trip.delayed', params: { flight: 'KE17', minutes: 'forty' } }, 'INVALID_PARAMS', /^alarms\[2\]\.params\.minutes: /],
    ['a missing param', { userId: 'x', template: 'trip.delayed', params: { flight: 'KE17' } }, 'INVALID_PARAMS', /^alarms\[2\]\.params\.minutes: is missing/],
    ['texts and a template', { userId: 'x', messages: TEXTS, template: 'trip.delayed' }, 'INVALID_BODY', /^alarms\[2\]\.template: and messages exclude/],
    ['an expiry in the past', { ...good(9), expiresAt: '2001-01-01T00:00:00Z' }, 'INVALID_BODY', /^alarms\[2\]\.expiresAt: must be in the future/],
    ['a ttl of 0', { ...good(9), ttl: 0 }, 'INVALID_BODY', /^alarms\[2\]\.ttl: must be a whole number/],
    ['ttl and expiresAt', { ...good(9), ttl: 5, expiresAt: '2099-01-01T00:00:00Z' }, 'INVALID_BODY', /^alarms\[2\]\.ttl: and expiresAt exclude/],
    ['an empty key', { ...good(9), key: '' }, 'INVALID_BODY', /^alarms\[2\]\.key: must be a string of 1 to 200/],
    ['a number a double cannot hold', `{"userId":"x","messages":{"ko":"x"},"data":{"n":12345678901234567890}}`, 'INVALID_BODY', /^alarms\[2\]\.data\.n: 12345678901234567890 cannot be stored exactly/],
  ]
  for (const [what, item, code, message] of BAD)
    test(`all or nothing: an item with ${what} → ${code} naming alarms[2], nothing stored`, async () => {
      const before = await counts()
      const items = [good(0), good(1), item, good(3)]
      // The raw text case is spliced in as written, so the number reaches the parser unrounded.
      const body = typeof item === 'string' ? `{"alarms":[${items.map((x) => (typeof x === 'string' ? x : JSON.stringify(x))).join(',')}]}` : { alarms: items }
      const error = await errorOf(await post('/alarms/batch', body))
      expect(error.code).toBe(code)
      expect(error.message).toMatch(message)
      expect(error.status).toBe(400)
      expect(await counts()).toEqual(before)
    })

  test('the languages of all items count together against HERALD_MAX_LOCALES: the item that passes it is named', async () => {
    const before = await counts()
    const known = h.herald.available.list.length
    const room = 40 - known
    const items = Array.from({ length: room + 1 }, (_, i) => ({ userId: 'polyglot', messages: { [`en-x-q${i}`]: 'x' } }))
    const error = await errorOf(await batch(items))
    expect(error.code).toBe('TOO_MANY_LOCALES')
    expect(error.message).toStartWith(`alarms[${room}].messages: too many languages`)
    expect(await counts()).toEqual(before)
    expect(h.herald.available.list.length).toBe(known)
  })

  test('the envelope: an object with `alarms`, 1 to 1,000 of them, nothing else', async () => {
    const cases: [unknown, RegExp][] = [
      [[{ userId: 'x', messages: TEXTS }], /^body: must be a JSON object/],
      [{}, /^alarms: must be an array/],
      [{ alarms: {} }, /^alarms: must be an array/],
      [{ alarms: [] }, /^alarms: must hold 1 to 1000 alarms \(it holds 0\)/],
      [{ alarms: Array.from({ length: 1001 }, () => ({ userId: 'x', messages: { ko: 'x' } })) }, /^alarms: must hold 1 to 1000 alarms \(it holds 1001\)/],
      [{ alarms: [{ userId: 'x', messages: TEXTS }], userId: 'x' }, /^userId: is not a known field/],
    ]
    const before = await counts()
    for (const [body, message] of cases) {
      const error = await errorOf(await post('/alarms/batch', body))
      expect({ code: error.code, status: error.status }).toEqual({ code: 'INVALID_BODY', status: 400 })
      expect(error.message).toMatch(message)
    }
    expect(await counts()).toEqual(before)
  })

  test('per-item keys: a repeat is that alarm (status 200), a batch of repeats answers 200, nothing stored twice', async () => {
    const items = [
      { userId: 'idem-a', messages: TEXTS, key: 'k1' },
      { userId: 'idem-b', messages: TEXTS, key: 'k1' }, // the same key for another user is another alarm
      { userId: 'idem-a', messages: TEXTS }, // no key: always new
    ]
    const first = await batch(items)
    expect(first.status).toBe(201)
    const stored = (await first.json()).alarms
    const before = await counts()
    const again = await batch(items.slice(0, 2))
    expect(again.status).toBe(200)
    expect((await again.json()).alarms).toEqual(stored.slice(0, 2).map((a: object) => ({ ...a, status: 200 })))
    expect(await counts()).toEqual(before)
    // A repeat next to new alarms: 201, the repeat marked 200; an alarm published alone with the key is the same.
    const mixed = await batch([{ userId: 'idem-c', messages: TEXTS, key: 'k2' }, items[0]])
    expect(mixed.status).toBe(201)
    const answered = (await mixed.json()).alarms
    expect(answered.map((a: { status: number }) => a.status)).toEqual([201, 200])
    expect(answered[1]).toEqual({ ...stored[0], status: 200 })
    const alone = await post('/alarms', items[0])
    expect(alone.status).toBe(200)
    expect((await alone.json()).id).toBe(stored[0].id)
    // A batch of one (which joins POST /alarms's group commit) answers the same way.
    const one = await batch([items[0]])
    expect(one.status).toBe(200)
    expect((await one.json()).alarms).toEqual([{ ...stored[0], status: 200 }])
    expect(await errorOf(await batch([{ ...items[0], data: { changed: true } }]))).toEqual({
      status: 409,
      code: 'IDEMPOTENCY_CONFLICT',
      message: "alarms[0].key: key 'k1' was already used for this user with a different alarm",
    })
  })

  test('a key its user holds with a different alarm → 409 naming the item, and nothing of the batch is stored', async () => {
    expect((await post('/alarms', { userId: 'conflict-a', messages: TEXTS, key: 'taken' })).status).toBe(201)
    const before = await counts()
    const error = await errorOf(
      await batch([
        { userId: 'conflict-b', messages: TEXTS },
        { userId: 'conflict-a', messages: TEXTS, key: 'taken', data: { other: true } },
        { userId: 'conflict-c', messages: TEXTS },
      ]),
    )
    expect(error).toEqual({ status: 409, code: 'IDEMPOTENCY_CONFLICT', message: "alarms[1].key: key 'taken' was already used for this user with a different alarm" })
    expect(await counts()).toEqual(before)
  })

  test('one (user, key) twice in one batch → 400 naming the second', async () => {
    const before = await counts()
    const error = await errorOf(
      await batch([
        { userId: 'twice', messages: TEXTS, key: 'k' },
        { userId: 'twice-other', messages: TEXTS, key: 'k' },
        { userId: 'twice', messages: TEXTS, key: 'k' },
      ]),
    )
    expect(error).toEqual({ status: 400, code: 'INVALID_BODY', message: "alarms[2].key: repeats alarms[0]'s key for the same user" })
    expect(await counts()).toEqual(before)
  })

  test('a body over 8 MiB → 413 at once; one under it is read', async () => {
    const client = await rawClient(h.url)
    await client.write(`POST /alarms/batch HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\nContent-Length: ${MAX_BATCH_BYTES + 1}\r\n\r\n`)
    const res = parseResponse(await client.closed)
    expect(res.status).toBe(413)
    expect(JSON.parse(res.body).error).toEqual({ code: 'PAYLOAD_TOO_LARGE', message: `request body is larger than ${MAX_BATCH_BYTES} bytes` })
    // 300 alarms of 3 texts of 1,000 Korean characters: ~2.7 MB, far over POST /alarms's 64 KiB.
    const big = Array.from({ length: 300 }, (_, i) => ({ userId: 'big-batch', messages: { ko: '가'.repeat(1000), ja: 'あ'.repeat(1000), en: `${i}`.padEnd(1000, '.') } }))
    const stored = await batch(big)
    expect(stored.status).toBe(201)
    expect((await stored.json()).alarms.length).toBe(300)
  })

  test('with publish keys configured, a batch needs one: 401 without, nothing stored', async () => {
    await using locked = await testHerald('batch_auth', { publishKeys: ['publisher-key-0123456789'] })
    const body = { alarms: [{ userId: 'x', messages: TEXTS }] }
    const refused = await post('/alarms/batch', body, locked)
    expect(refused.status).toBe(401)
    expect((await refused.json()).error.code).toBe('UNAUTHORIZED')
    const fan = await fanOut({ userIds: ['x', 'y'], messages: TEXTS }, locked)
    expect(fan.status).toBe(401)
    expect((await counts(locked)).alarms).toBe(0)
    const allowed = await post('/alarms/batch', body, locked, { authorization: 'Bearer publisher-key-0123456789' })
    expect(allowed.status).toBe(201)
  })
})

describe('POST /alarms with userIds (fan-out)', () => {
  test('one alarm per user, each with its own seq; the answer lists them in input order', async () => {
    expect((await post('/alarms', { userId: 'fan-b', messages: TEXTS })).status).toBe(201) // fan-b has one already
    const res = await fanOut({ userIds: ['fan-a', 'fan-b', 'fan-c'], messages: TEXTS, data: { flight: 'KE17' }, ttl: 3600 })
    expect(res.status).toBe(201)
    const body = await res.json()
    expect(body).toEqual({
      alarms: [
        { userId: 'fan-a', id: expect.any(Number), seq: 1 },
        { userId: 'fan-b', id: expect.any(Number), seq: 2 },
        { userId: 'fan-c', id: expect.any(Number), seq: 1 },
      ],
      locales: ['en-US', 'ko'],
      createdAt: expect.any(String),
      expiresAt: expect.any(String),
    })
    const rows = await h.db.sql`
      select a.user_id, a.data, a.expires_at, array_agg(m.locale order by m.locale) as locales
      from alarms a join alarm_messages m on m.alarm_id = a.id
      where a.id = any(${body.alarms.map((a: { id: number }) => a.id)}) group by a.id order by a.id`
    expect(rows.map((r) => [r.user_id, r.data, r.locales, r.expires_at.toISOString()])).toEqual(
      ['fan-a', 'fan-b', 'fan-c'].map((u) => [u, { flight: 'KE17' }, ['en-US', 'ko'], body.expiresAt]),
    )
  })

  test('a template fan-out answers the template and its languages', async () => {
    const res = await fanOut({ userIds: ['tfan-a', 'tfan-b'], template: 'trip.delayed', params: { flight: 'OZ3', minutes: 15 } })
    expect(res.status).toBe(201)
    const body = await res.json()
    expect(body).toEqual({ alarms: expect.any(Array), locales: ['en', 'ko'], createdAt: expect.any(String), template: 'trip.delayed' })
  })

  test('userIds: distinct, each valid, 1 to 10,000, never with userId → 400 naming the entry, nothing stored', async () => {
    const before = await counts()
    const cases: [Record<string, unknown>, string, string][] = [
      [{ userIds: ['a', 'b', 'c', 'b'] }, 'INVALID_BODY', 'userIds[3]: repeats userIds[1]: each user once'],
      [{ userIds: ['a', ''] }, 'INVALID_USER_ID', 'userIds[1] must not be empty'],
      [{ userIds: ['a', '..'] }, 'INVALID_USER_ID', 'userIds[1] must not be . or ..'],
      [{ userIds: ['a', 7] }, 'INVALID_BODY', 'userIds[1]: must be a string'],
      [{ userIds: 'a' }, 'INVALID_BODY', 'userIds: must be an array of user ids'],
      [{ userIds: [] }, 'INVALID_BODY', 'userIds: must hold 1 to 10000 user ids (it holds 0); split a larger fan-out'],
      [{ userIds: Array.from({ length: 10_001 }, (_, i) => `${i}`) }, 'INVALID_BODY', 'userIds: must hold 1 to 10000 user ids (it holds 10001); split a larger fan-out'],
      [{ userIds: ['a'], userId: 'a' }, 'INVALID_BODY', 'userId: and userIds exclude each other: send one'],
      [{ userIds: ['a'], color: 1 }, 'INVALID_BODY', 'color: is not a known field'],
    ]
    for (const [fields, code, message] of cases) expect(await errorOf(await fanOut({ messages: TEXTS, ...fields }))).toEqual({ status: 400, code, message })
    // The alarm's own fields are checked as POST /alarms checks them.
    expect((await errorOf(await fanOut({ userIds: ['a'], messages: { ko: '' } }))).message).toBe('messages.ko: must not be empty')
    expect((await errorOf(await fanOut({ userIds: ['a'], template: 'no.such' }))).code).toBe('UNKNOWN_TEMPLATE')
    expect(await counts()).toEqual(before)
  })

  test('`key` makes the whole fan-out idempotent: a retry → 200 with the same answer; another alarm → 409; nothing stored either time', async () => {
    const body = { userIds: ['ik-a', 'ik-b', 'ik-c'], messages: TEXTS, data: { n: 1 }, key: 'flight-KE17' }
    const first = await fanOut(body)
    expect(first.status).toBe(201)
    const answer = await first.json()
    const before = await counts()
    const retry = await fanOut({ ...body, messages: { ko: TEXTS.ko, 'en-us': TEXTS['en-US'] } }) // the same texts, another case
    expect(retry.status).toBe(200)
    expect(await retry.json()).toEqual(answer)
    expect(await counts()).toEqual(before)
    expect(await errorOf(await fanOut({ ...body, data: { n: 2 } }))).toEqual({
      status: 409,
      code: 'IDEMPOTENCY_CONFLICT',
      message: "userIds[0]: key 'flight-KE17' was already used for this user with a different alarm; nothing was stored",
    })
    expect(await counts()).toEqual(before)
    // One user's alarm through POST /alarms with the key is that user's alarm of the fan-out.
    const one = await post('/alarms', { userId: 'ik-b', messages: TEXTS, data: { n: 1 }, key: 'flight-KE17' })
    expect(one.status).toBe(200)
    expect((await one.json()).id).toBe(answer.alarms[1].id)
  })

  test('a key some of the users hold (an earlier fan-out to fewer users, or one user\'s own publish) → 409, never a half fan-out', async () => {
    const body = { userIds: ['ov-a', 'ov-b'], messages: TEXTS, key: 'overlap' }
    expect((await fanOut(body)).status).toBe(201)
    const before = await counts()
    expect(await errorOf(await fanOut({ ...body, userIds: ['ov-c', 'ov-a', 'ov-b', 'ov-d'] }))).toEqual({
      status: 409,
      code: 'IDEMPOTENCY_CONFLICT',
      message: "key 'overlap' was already used by a publish to other users: userIds[1] holds an alarm with it, userIds[0] does not; nothing was stored",
    })
    expect(await counts()).toEqual(before)
    // A fan-out to a subset of the first is not a retry of it either.
    expect((await errorOf(await fanOut({ ...body, userIds: ['ov-b', 'ov-z'] }))).code).toBe('IDEMPOTENCY_CONFLICT')
    expect(await counts()).toEqual(before)
    // Every user holding it with this alarm: a retry, whoever stored it.
    const direct = await post('/alarms', { userId: 'ov-e', messages: TEXTS, key: 'mine' })
    const retried = await fanOut({ userIds: ['ov-e'], messages: TEXTS, key: 'mine' })
    expect(retried.status).toBe(200)
    expect((await retried.json()).alarms[0].id).toBe((await direct.json()).id)
  })

  test('concurrent identical fan-outs with one key store it once; the others answer 200 with the same alarms', async () => {
    const body = { userIds: Array.from({ length: 50 }, (_, i) => `race-key-${i}`), messages: TEXTS, key: 'once' }
    const answers = await Promise.all(Array.from({ length: 4 }, () => fanOut(body)))
    expect(answers.map((res) => res.status).sort()).toEqual([200, 200, 200, 201])
    const ids = await Promise.all(answers.map(async (res) => (await res.json()).alarms.map((a: { id: number }) => a.id).join()))
    expect(new Set(ids).size).toBe(1)
    const [row] = await h.db.sql`select count(*)::int as n from alarms where user_id like 'race-key-%'`
    expect(row!.n).toBe(50)
  })

  test('a fan-out body over 64 KiB is read when it declares its length (up to 1 MiB); chunked, 64 KiB holds', async () => {
    const over = await rawClient(h.url)
    await over.write(`POST /alarms HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\nContent-Length: ${MAX_FAN_OUT_BYTES + 1}\r\n\r\n`)
    expect(parseResponse(await over.closed).status).toBe(413)
    const chunked = await rawClient(h.url)
    const text = JSON.stringify({ userIds: Array.from({ length: 8000 }, (_, i) => `chunked-user-${i}`), messages: TEXTS })
    await chunked.write(`POST /alarms HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n${text.length.toString(16)}\r\n${text}\r\n0\r\n\r\n`)
    const refused = parseResponse(await chunked.closed)
    expect(refused.status).toBe(413)
    expect(JSON.parse(refused.body).error.message).toBe('request body is larger than 65536 bytes')
    // One alarm's body is still held to 64 KiB, declared or not.
    const single = await post('/alarms', { userId: 'x', messages: TEXTS, data: { blob: 'x'.repeat(70_000) } })
    expect(single.status).toBe(413)
    expect((await single.json()).error.message).toBe('request body is larger than 65536 bytes')
  })

  test('10,000 users: each connected user gets it exactly once; every user has exactly one row', async () => {
    await using fan = await testHerald('batch_fanout')
    const userIds = Array.from({ length: 10_000 }, (_, i) => `ten-k-${i}`)
    const sample = userIds.filter((_, i) => i % 50 === 7) // 200 streams, spread over the list
    const streams = new Map<string, Subscription>()
    for (let i = 0; i < sample.length; i += 50)
      await Promise.all(
        sample.slice(i, i + 50).map(async (user) => {
          const sub = await fan.subscribe(user)
          await ready(sub)
          streams.set(user, sub)
        }),
      )
    const res = await fanOut({ userIds, messages: TEXTS, data: { flight: 'KE17' } }, fan)
    expect(res.status).toBe(201)
    const { alarms } = await res.json()
    expect(alarms.map((a: { userId: string }) => a.userId)).toEqual(userIds)
    expect(alarms.every((a: { seq: number }) => a.seq === 1)).toBe(true)
    const idOf = new Map<string, number>(alarms.map((a: { userId: string; id: number }) => [a.userId, a.id]))
    await Promise.all(
      [...streams].map(async ([user, sub]) => {
        const alarm = await nextAlarm(sub)
        expect({ user, id: alarm.id, seq: alarm.seq }).toEqual({ user, id: idOf.get(user)!, seq: 1 })
      }),
    )
    // A barrier: the next alarm of each stream is a new one (seq 2), not the fan-out's again.
    await Promise.all(sample.map(async (user) => expect((await post('/alarms', { userId: user, messages: { ko: 'barrier' } }, fan)).status).toBe(201)))
    await Promise.all([...streams].map(async ([user, sub]) => expect({ user, seq: (await nextAlarm(sub)).seq }).toEqual({ user, seq: 2 })))
    const [row] = await fan.db.sql`
      select count(*)::int as alarms, count(distinct user_id)::int as users, max(seq)::int as top,
             (select count(*)::int from alarm_messages) as messages
      from alarms where seq = 1`
    expect(row).toEqual({ alarms: 10_000, users: 10_000, top: 1, messages: 10_000 * 2 + sample.length })
  }, 30_000)

  test('racing a direct SQL writer for the same users: every stream gets every seq of its user, in order, once', async () => {
    await using race = await testHerald('batch_race')
    const users = Array.from({ length: 30 }, (_, i) => `racer-${i}`)
    const streams = await Promise.all(
      users.map(async (user) => {
        const sub = await race.subscribe(user)
        await ready(sub)
        return sub
      }),
    )
    const writer = postgres(race.db.url, { max: 4, onnotice: () => {} })
    try {
      // Four writers, 40 one-alarm transactions each, for users in a shuffled order; five fan-outs at the same time.
      const direct = Array.from({ length: 4 }, async (_, w) => {
        for (let i = 0; i < 40; i++) {
          const user = users[(i * 7 + w * 13) % users.length]!
          await writer`
            with a as (insert into alarms (user_id, data) values (${user}, ${writer.json({ writer: w, i })}) returning id)
            insert into alarm_messages (alarm_id, locale, message) select id, 'ko', 'direct' from a`
        }
      })
      const fans = Array.from({ length: 5 }, async (_, f) => {
        const res = await fanOut({ userIds: f % 2 ? [...users].reverse() : users, messages: { ko: `fan ${f}` } }, race)
        expect(res.status).toBe(201)
      })
      await Promise.all([...direct, ...fans])
    } finally {
      await writer.end()
    }
    const rows = await race.db.sql<{ user_id: string; seqs: number[] }[]>`
      select user_id, array_agg(seq::int order by seq) as seqs from alarms group by user_id`
    const expected = new Map(rows.map((r) => [r.user_id, r.seqs]))
    expect([...expected.values()].reduce((n, seqs) => n + seqs.length, 0)).toBe(4 * 40 + 5 * users.length)
    await Promise.all(
      users.map(async (user, i) => {
        const seqs = expected.get(user)!
        // Gapless in the table: every writer took its turn on the user's counter row.
        expect(seqs).toEqual(seqs.map((_, k) => k + 1))
        const got: number[] = []
        while (got.length < seqs.length) got.push((await nextAlarm(streams[i]!)).seq)
        expect({ user, got }).toEqual({ user, got: seqs })
      }),
    )
  }, 30_000)
})

describe('wake-ups through Redis', () => {
  test('with Redis carrying them, a fan-out and a batch commit without NOTIFY and announce every user to every instance', async () => {
    const redisUrl = process.env.REDIS_URL ?? 'redis://127.0.0.1:6379'
    const redisPrefix = `herald-test-${crypto.randomUUID()}:`
    // A hears no NOTIFY (it listens on a channel nobody uses): only B's announcements through Redis wake its streams.
    await using a = await testHerald('batch_redis', { redisUrl, redisPrefix, channel: 'herald_nobody_listens_here' })
    const config = { ...readConfig({}), databaseUrl: a.db.url, port: 0, hostname: '127.0.0.1' }
    const b = await startServer(config, { log: { log() {}, warn() {}, error() {} }, overrides: { safetyPollMs: 0, redisUrl, redisPrefix } })
    try {
      await until(() => a.herald.signals.backend === 'redis' && b.herald.signals.backend === 'redis', 'both on Redis', 10_000)
      const users = ['red-1', 'red-2', 'red-3']
      const streams = await Promise.all(
        users.map(async (user) => {
          const sub = await a.subscribe(user)
          await ready(sub)
          return sub
        }),
      )
      const fan = await fetch(`${b.url}/alarms`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ userIds: users, messages: TEXTS }) })
      expect(fan.status).toBe(201)
      for (const sub of streams) expect((await nextAlarm(sub)).seq).toBe(1)
      const many = await fetch(`${b.url}/alarms/batch`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ alarms: users.map((userId) => ({ userId, messages: { ko: 'batch' } })) }),
      })
      expect(many.status).toBe(201)
      for (const sub of streams) expect((await nextAlarm(sub)).seq).toBe(2)
    } finally {
      await b.stop()
    }
  })
})

describe('waits, shutdown, limits and metrics', () => {
  async function holdUser(herald: TestHerald, userId: string) {
    const sql = postgres(herald.db.url, { max: 1, onnotice: () => {} })
    const held = Promise.withResolvers<void>()
    const locked = Promise.withResolvers<void>()
    const done = sql
      .begin(async (tx) => {
        await tx`insert into user_seqs (user_id, last_seq) values (${userId}, 0) on conflict (user_id) do update set last_seq = user_seqs.last_seq`
        locked.resolve()
        await held.promise
      })
      .catch((error) => locked.reject(error))
    await locked.promise
    return {
      async release() {
        held.resolve()
        await done
        await sql.end()
      },
    }
  }

  test('a user another transaction holds: the fan-out and the batch wait HERALD_LOCK_TIMEOUT_MS, then 503 USER_BUSY, nothing stored', async () => {
    await using quick = await testHerald('batch_busy', { lockTimeoutMs: 300 })
    const holder = await holdUser(quick, 'held')
    try {
      const started = performance.now()
      const [fan, many] = await Promise.all([
        fanOut({ userIds: ['free-1', 'held', 'free-2'], messages: TEXTS }, quick),
        batch([{ userId: 'free-3', messages: TEXTS }, { userId: 'held', messages: TEXTS }], quick),
      ])
      expect(performance.now() - started).toBeGreaterThanOrEqual(290)
      for (const res of [fan, many]) {
        expect(res.status).toBe(503)
        expect(res.headers.get('retry-after')).toBe('1')
        expect((await res.json()).error.code).toBe('USER_BUSY')
      }
      expect((await counts(quick)).alarms).toBe(0)
    } finally {
      await holder.release()
    }
    // Once the row is free, the same fan-out goes through.
    expect((await fanOut({ userIds: ['free-1', 'held', 'free-2'], messages: TEXTS }, quick)).status).toBe(201)
  })

  test('a fan-out waiting for a lock at shutdown is cancelled: answered 503, rolled back', async () => {
    await using slow = await testHerald('batch_cut', { lockTimeoutMs: 60_000 })
    const holder = await holdUser(slow, 'stuck')
    try {
      const inFlight = fanOut({ userIds: ['cut-1', 'stuck'], messages: TEXTS }, slow)
      for (let i = 0; ; i++) {
        const [row] = await slow.db.sql`
          select count(*)::int as n from pg_stat_activity
          where wait_event_type = 'Lock' and application_name like 'herald%' and datname = current_database()`
        if (row!.n > 0) break
        if (i > 1000) throw new Error('the fan-out never reached the database')
      }
      slow.herald.cutPublishes()
      const res = await inFlight
      expect(res.status).toBe(503)
      expect((await res.json()).error.code).toBe('UNAVAILABLE')
      await slow.herald.drain([0, 1])
    } finally {
      await holder.release()
    }
    expect((await counts(slow)).alarms).toBe(0)
  })

  test('HERALD_PUBLISH_RATE counts a batch or a fan-out as one publish', async () => {
    await using limited = await testHerald('batch_rate', { publishRate: 2 })
    const hundred = Array.from({ length: 100 }, (_, i) => ({ userId: `rate-${i}`, messages: TEXTS }))
    expect((await batch(hundred, limited)).status).toBe(201)
    expect((await fanOut({ userIds: hundred.map((a) => a.userId), messages: TEXTS }, limited)).status).toBe(201)
    const third = await batch(hundred, limited)
    expect(third.status).toBe(429)
    expect((await third.json()).error.code).toBe('RATE_LIMITED')
    expect((await counts(limited)).alarms).toBe(200)
  })

  test('every stored alarm is counted in herald_alarms_published_total{path="api"}; repeats are not', async () => {
    await using counted = await testHerald('batch_metrics')
    const scrape = async () => parseMetrics(await (await fetch(new URL('/metrics', counted.url))).text()).value('herald_alarms_published_total', { path: 'api' })
    expect((await batch([{ userId: 'm1', messages: TEXTS, key: 'k' }, { userId: 'm2', messages: TEXTS }], counted)).status).toBe(201)
    expect((await fanOut({ userIds: ['m1', 'm2', 'm3'], messages: TEXTS, key: 'f' }, counted)).status).toBe(201)
    expect((await fanOut({ userIds: ['m1', 'm2', 'm3'], messages: TEXTS, key: 'f' }, counted)).status).toBe(200)
    expect((await batch([{ userId: 'm1', messages: TEXTS, key: 'k' }], counted)).status).toBe(200)
    expect(await scrape()).toBe(5)
  })
})
