// The catalogue over HTTP (PUT/GET /templates/:key, GET /templates, GET /templates/coverage) and
// publishing with a template: every answer, and every refusal with nothing stored.
import { afterAll, beforeAll, describe, expect, test } from 'bun:test'
import { testHerald, type TestHerald } from './helpers/herald'

let h: TestHerald
let guarded: TestHerald
const PUBLISH_KEY = 'templates-publish-key-0123'
beforeAll(async () => {
  h = await testHerald('templates_http', { publishRate: 0 })
  guarded = await testHerald('templates_auth', { publishKeys: [PUBLISH_KEY] })
})
afterAll(async () => {
  await h[Symbol.asyncDispose]()
  await guarded[Symbol.asyncDispose]()
})

const reservation = {
  en: '{seats, plural, one {# seat} other {# seats}} reserved for {at, date, medium}, {at, time, short}',
  ko: '{at, date, medium} {at, time, short}에 {seats}석이 예약되었습니다',
  ru: '{seats, plural, one {# место} few {# места} many {# мест} other {# места}} на {at, date, medium}',
}

function put(key: string, body: unknown, server: TestHerald = h, headers: Record<string, string> = {}) {
  return fetch(new URL(`/templates/${key}`, server.url), {
    method: 'PUT',
    headers: { 'content-type': 'application/json', ...headers },
    body: typeof body === 'string' ? body : JSON.stringify(body),
  })
}

function get(path: string, server: TestHerald = h, headers: Record<string, string> = {}) {
  return fetch(new URL(path, server.url), { headers })
}

async function counts() {
  const [row] = await h.db.sql<{ templates: number; alarms: number; messages: number; version: number }[]>`
    select (select count(*)::int from templates) as templates, (select count(*)::int from alarms) as alarms,
           (select count(*)::int from alarm_messages) as messages, (select coalesce(sum(version), 0)::int from templates) as version`
  return row!
}

async function errorOf(res: Response) {
  const body = await res.json()
  return { status: res.status, code: body.error?.code as string, message: body.error?.message as string }
}

describe('PUT /templates/:key', () => {
  test('creates a key: 201 with its version, canonical locales, arguments and warnings', async () => {
    const res = await put('reservation.confirmed', { messages: { ...reservation, 'EN-gb': reservation.en }, description: 'the seed’s reservation' })
    expect(res.status).toBe(201)
    expect(await res.json()).toEqual({
      key: 'reservation.confirmed',
      version: 1,
      locales: ['en', 'en-GB', 'ko', 'ru'],
      arguments: { at: 'date', seats: 'number' },
      warnings: [],
    })
    const [row] = await h.db.sql`select messages, description from templates where key = 'reservation.confirmed'`
    expect(Object.keys(row!.messages).sort()).toEqual(['en', 'en-GB', 'ko', 'ru'])
    expect(row!.description).toBe('the seed’s reservation')
  })

  test('the same texts again: 200, the same version; changed texts: 200, the next version', async () => {
    const body = { messages: { en: '{n} new' } }
    expect((await put('same.again', body)).status).toBe(201)
    const again = await put('same.again', body)
    expect(again.status).toBe(200)
    expect((await again.json()).version).toBe(1)
    const changed = await put('same.again', { messages: { en: '{n} new', ko: '새 {n}' } })
    expect(changed.status).toBe(200)
    expect(await changed.json()).toMatchObject({ version: 2, locales: ['en', 'ko'] })
    const described = await put('same.again', { messages: { en: '{n} new', ko: '새 {n}' }, description: 'now described' })
    expect((await described.json()).version).toBe(3)
  })

  test('a plural lacking a category the locale needs is a warning, and the key is stored', async () => {
    const res = await put('warned', { messages: { en: '{n, plural, one {# file} other {# files}}', ru: '{n, plural, one {# файл} other {# файлов}}' } })
    expect(res.status).toBe(201)
    const { warnings } = await res.json()
    expect(warnings).toEqual([{ locale: 'ru', argument: 'n', missing: ['few', 'many'], message: expect.stringContaining('few, many') }])
  })

  test('texts that change the arguments: 409 TEMPLATE_ARGUMENTS_CHANGED, and the stored texts stay', async () => {
    expect((await put('fixed.args', { messages: { en: '{who} arrived' } })).status).toBe(201)
    const before = await counts()
    for (const messages of [{ en: '{who} arrived at {at, time}' }, { en: 'someone arrived' }, { en: '{who, number} arrived' }]) {
      const error = await errorOf(await put('fixed.args', { messages }))
      expect(error).toMatchObject({ status: 409, code: 'TEMPLATE_ARGUMENTS_CHANGED' })
      expect(error.message).toContain('takes who: string')
    }
    expect(await counts()).toEqual(before)
    // A bare {who} in another language, or a select on it, still fits.
    expect((await put('fixed.args', { messages: { en: '{who} arrived', ko: '{who, select, admin {관리자} other {{who}}} 도착' } })).status).toBe(200)
  })

  const invalid: [string, string, unknown, number, string, string][] = [
    ['a syntax error', 'bad.syntax', { messages: { en: 'ok', ko: '{n, plural, one {x}' } }, 400, 'INVALID_TEMPLATE', 'messages.ko: is not valid ICU MessageFormat: MISSING_OTHER_CLAUSE at line 1, column 20'],
    ['locales with other arguments', 'bad.args', { messages: { en: '{a}', ko: '{b}' } }, 400, 'INVALID_TEMPLATE', 'messages.ko: uses the arguments {b}'],
    ['a text too long', 'bad.long', { messages: { en: 'x'.repeat(4001) } }, 400, 'INVALID_BODY', 'messages.en'],
    ['nesting too deep', 'bad.deep', { messages: { en: '{a, select, x {'.repeat(6) + 'y' + '} other {z}}'.repeat(6) } }, 400, 'INVALID_TEMPLATE', 'deeper than 5 levels'],
    ['an unknown currency', 'bad.currency', { messages: { en: '{p, number, ::currency/EURO}' } }, 400, 'INVALID_TEMPLATE', 'cannot be formatted'],
    ['the seed’s US-en tag', 'bad.locale', { messages: { 'US-en': 'x' } }, 400, 'INVALID_LOCALE', 'US-en'],
    ['no messages', 'bad.none', { description: 'x' }, 400, 'INVALID_BODY', 'messages'],
    ['empty messages', 'bad.empty', { messages: {} }, 400, 'INVALID_BODY', 'messages'],
    ['an unknown field', 'bad.field', { messages: { en: 'x' }, params: {} }, 400, 'INVALID_BODY', 'params'],
    ['a description too long', 'bad.description', { messages: { en: 'x' }, description: 'd'.repeat(1001) }, 400, 'INVALID_BODY', 'description'],
    ['a key with a space', 'bad%20key', { messages: { en: 'x' } }, 400, 'INVALID_TEMPLATE_KEY', "'bad key'"],
    ['a key over 200 characters', 'k'.repeat(201), { messages: { en: 'x' } }, 400, 'INVALID_TEMPLATE_KEY', 'must be 1 to 200'],
    ['a key badly percent-encoded', 'bad%E0%A4%A', { messages: { en: 'x' } }, 400, 'INVALID_TEMPLATE_KEY', 'percent-encoded'],
    // GET /templates/coverage exists, so a PUT there is answered by the router: its method is wrong.
    ['the reserved key', 'coverage', { messages: { en: 'x' } }, 405, 'METHOD_NOT_ALLOWED', 'use GET'],
    ['not JSON', 'bad.json', '{"messages":', 400, 'INVALID_JSON', 'JSON'],
  ]
  for (const [what, key, body, status, code, named] of invalid)
    test(`${status} ${code}: ${what}, nothing stored`, async () => {
      const before = await counts()
      const error = await errorOf(await put(key, body))
      expect(error).toMatchObject({ status, code })
      expect(error.message).toContain(named)
      expect(await counts()).toEqual(before)
    })

  test('too many languages for the server: 400 TOO_MANY_LOCALES, nothing stored', async () => {
    await using tight = await testHerald('templates_max_locales', { maxLocales: 2 })
    const error = await errorOf(await put('many', { messages: { en: 'a', ko: 'b', ja: 'c' } }, tight))
    expect(error).toMatchObject({ status: 400, code: 'TOO_MANY_LOCALES' })
    const [row] = await tight.db.sql`select count(*)::int as n from templates`
    expect(row!.n).toBe(0)
  })

  test('with publish keys: the catalogue needs one, like publishing (401 UNAUTHORIZED otherwise)', async () => {
    const auth = { authorization: `Bearer ${PUBLISH_KEY}` }
    expect((await errorOf(await put('locked', { messages: { en: 'x' } }, guarded))).code).toBe('UNAUTHORIZED')
    expect((await errorOf(await get('/templates', guarded))).code).toBe('UNAUTHORIZED')
    expect((await errorOf(await get('/templates/coverage', guarded))).code).toBe('UNAUTHORIZED')
    expect((await errorOf(await get('/templates/locked', guarded))).code).toBe('UNAUTHORIZED')
    expect((await put('locked', { messages: { en: 'x' } }, guarded, auth)).status).toBe(201)
    expect((await get('/templates/locked', guarded, auth)).status).toBe(200)
  })
})

describe('GET /templates', () => {
  test('GET /templates/:key: the current texts, version, arguments and warnings', async () => {
    await put('get.me', { messages: { en: '{n, plural, one {# cat} other {# cats}}', ru: '{n, plural, one {# кот} other {# котов}}' }, description: 'cats' })
    const res = await get('/templates/get.me')
    expect(res.status).toBe(200)
    expect(await res.json()).toEqual({
      key: 'get.me',
      version: 1,
      locales: ['en', 'ru'],
      arguments: { n: 'number' },
      description: 'cats',
      messages: { en: '{n, plural, one {# cat} other {# cats}}', ru: '{n, plural, one {# кот} other {# котов}}' },
      warnings: [expect.objectContaining({ locale: 'ru', missing: ['few', 'many'] })],
      createdAt: expect.stringMatching(/^\d{4}-/),
      updatedAt: expect.stringMatching(/^\d{4}-/),
    })
  })

  test('GET /templates/:key of no template: 404 TEMPLATE_NOT_FOUND; of a malformed key: 400', async () => {
    expect(await errorOf(await get('/templates/no.such.key'))).toMatchObject({ status: 404, code: 'TEMPLATE_NOT_FOUND' })
    expect(await errorOf(await get('/templates/a%20b'))).toMatchObject({ status: 400, code: 'INVALID_TEMPLATE_KEY' })
  })

  test('the list is paginated in key order, `next` naming where the next page starts', async () => {
    await using list = await testHerald('templates_list')
    for (const key of ['c', 'a', 'e', 'b', 'd']) expect((await put(key, { messages: { en: key } }, list)).status).toBe(201)
    const keys: string[] = []
    let after: string | null = null
    for (let page = 0; page < 10; page++) {
      const res = await get(`/templates?limit=2${after ? `&after=${after}` : ''}`, list)
      const body = (await res.json()) as { templates: { key: string; locales: string[] }[]; next: string | null }
      expect(body.templates.length).toBeLessThanOrEqual(2)
      keys.push(...body.templates.map((t) => t.key))
      after = body.next
      if (!after) break
    }
    expect(keys).toEqual(['a', 'b', 'c', 'd', 'e'])
  })

  const badPages = ['limit=0', 'limit=101', 'limit=ten', 'limit=-1', 'after=a%20b']
  for (const query of badPages)
    test(`a page with ${query}: 400 INVALID_QUERY`, async () => {
      expect(await errorOf(await get(`/templates?${query}`))).toMatchObject({ status: 400, code: 'INVALID_QUERY' })
      expect(await errorOf(await get(`/templates/coverage?${query}`))).toMatchObject({ status: 400, code: 'INVALID_QUERY' })
    })

  test('coverage: for each key, which of the languages Herald knows it lacks', async () => {
    await using cover = await testHerald('templates_coverage', { locales: ['en', 'ja', 'ko'] })
    await put('full', { messages: { en: 'a', ja: 'b', ko: 'c' } }, cover)
    await put('partial', { messages: { en: 'a' } }, cover)
    const res = await get('/templates/coverage', cover)
    expect(await res.json()).toEqual({
      locales: ['en', 'ja', 'ko'],
      templates: [
        { key: 'full', locales: ['en', 'ja', 'ko'], missing: [] },
        { key: 'partial', locales: ['en'], missing: ['ja', 'ko'] },
      ],
      next: null,
    })
  })
})

describe('POST /alarms with a template', () => {
  beforeAll(async () => {
    await put('publish.me', { messages: { en: '{who} booked {seats, plural, one {# seat} other {# seats}} for {at, date, medium} ({kind, select, vip {VIP} other {standard}})' } })
  })
  const body = { userId: 'tiaz', template: 'publish.me', params: { who: 'Mina', seats: 3, at: '2026-12-12T10:30:00Z', kind: 'vip' }, data: { reservationId: 17 } }

  test('stores the template and its params: 201 with the template’s languages', async () => {
    const res = await h.publish(body)
    expect(res.status).toBe(201)
    const published = await res.json()
    expect(published).toEqual({ id: expect.any(Number), userId: 'tiaz', seq: expect.any(Number), locales: ['en'], createdAt: expect.any(String), template: 'publish.me' })
    const [row] = await h.db.sql`select template_key, params, data, (select count(*)::int from alarm_messages where alarm_id = ${published.id}) as texts from alarms where id = ${published.id}`
    expect(row).toEqual({ template_key: 'publish.me', params: body.params, data: { reservationId: 17 }, texts: 0 })
  })

  test('epoch milliseconds for a date are fine too', async () => {
    expect((await h.publish({ ...body, params: { ...body.params, at: Date.parse('2026-12-12T10:30:00Z') } })).status).toBe(201)
  })

  test('idempotency: the same key, template and params → 200 with the first; different params → 409', async () => {
    const first = await h.publish({ ...body, userId: 'idem-template', key: 'r-1' })
    expect(first.status).toBe(201)
    const before = await counts()
    const again = await h.publish({ ...body, userId: 'idem-template', key: 'r-1', params: { kind: 'vip', at: body.params.at, seats: 3, who: 'Mina' } })
    expect(again.status).toBe(200)
    expect(await again.json()).toEqual(await first.json())
    const other = await h.publish({ ...body, userId: 'idem-template', key: 'r-1', params: { ...body.params, seats: 4 } })
    expect(await errorOf(other)).toMatchObject({ status: 409, code: 'IDEMPOTENCY_CONFLICT' })
    const texts = await h.publish({ userId: 'idem-template', key: 'r-1', messages: { en: 'Mina booked 3 seats' }, data: { reservationId: 17 } })
    expect(await errorOf(texts)).toMatchObject({ status: 409, code: 'IDEMPOTENCY_CONFLICT' })
    expect(await counts()).toEqual(before)
  })

  const refused: [string, Record<string, unknown>, string, string][] = [
    ['an unknown template', { template: 'no.such.template' }, 'UNKNOWN_TEMPLATE', 'no.such.template'],
    ['a missing param', { params: { who: 'Mina', seats: 3, at: body.params.at } }, 'INVALID_PARAMS', 'params.kind: is missing'],
    ['an extra param', { params: { ...body.params, extra: 1 } }, 'INVALID_PARAMS', 'params.extra'],
    ['a string for the plural', { params: { ...body.params, seats: '3' } }, 'INVALID_PARAMS', 'params.seats: must be a finite number'],
    ['a number for the select', { params: { ...body.params, kind: 1 } }, 'INVALID_PARAMS', 'params.kind: must be a string'],
    ['a date without an offset', { params: { ...body.params, at: '2026-12-12 10:30' } }, 'INVALID_PARAMS', 'params.at'],
    ['no params for a template with arguments', { params: undefined }, 'INVALID_PARAMS', 'params.at: is missing'],
    ['messages and a template', { messages: { en: 'x' } }, 'INVALID_BODY', 'template: and messages exclude each other'],
    ['params without a template', { template: undefined, messages: { en: 'x' } }, 'INVALID_BODY', 'params: goes with template'],
    ['params that are not an object', { params: [1] }, 'INVALID_BODY', 'params: must be a JSON object'],
    ['a template that is not a key', { template: 'a b' }, 'INVALID_BODY', 'template: must be a template key'],
    ['a template that is not a string', { template: 5 }, 'INVALID_BODY', 'template'],
    ['neither messages nor a template', { template: undefined, params: undefined }, 'INVALID_BODY', 'messages: is required (or template and params)'],
  ]
  for (const [what, change, code, named] of refused)
    test(`400 ${code}: ${what}, nothing stored`, async () => {
      const before = await counts()
      const error = await errorOf(await h.publish({ ...body, userId: 'refused', ...change }))
      expect(error).toMatchObject({ status: 400, code })
      expect(error.message).toContain(named)
      expect(await counts()).toEqual(before)
      const [seqs] = await h.db.sql`select count(*)::int as n from user_seqs where user_id = 'refused'`
      expect(seqs!.n).toBe(0)
    })

  test('a template with no arguments needs no params', async () => {
    await put('no.args', { messages: { en: 'Welcome!' } })
    expect((await h.publish({ userId: 'tiaz', template: 'no.args' })).status).toBe(201)
  })

  test('messages publishes are unchanged: no template field in the answer', async () => {
    const res = await h.publish({ userId: 'tiaz', messages: { en: 'plain' } })
    expect(res.status).toBe(201)
    expect(Object.keys(await res.json()).sort()).toEqual(['createdAt', 'id', 'locales', 'seq', 'userId'])
  })
})
