// Random and hostile values at every input: always a 4xx with a JSON error code (or a stream where
// the input is legitimately acceptable), never a 500 or a crash, and the database unchanged.
import { afterAll, beforeAll, describe, expect, test } from 'bun:test'
import fc from 'fast-check'
import { SignJWT, base64url } from 'jose'
import { MAX_HEADER_BYTES } from '../src/http/limits'
import { testHerald, type TestHerald } from './helpers/herald'
import { rawRequest } from './helpers/raw'

const SECRET = 'hostile-suite-secret-of-at-least-32-bytes'
let open: TestHerald
let guarded: TestHerald
beforeAll(async () => {
  open = await testHerald('hostile_open', { reconnectBurst: 10_000, reconnectPerMinute: 600_000, publishRate: 0 })
  guarded = await testHerald('hostile_auth', { jwtSecret: SECRET, publishKeys: ['hostile-publish-key-123'] })
})
afterAll(async () => {
  await open[Symbol.asyncDispose]()
  await guarded[Symbol.asyncDispose]()
})

const RUNS = { numRuns: 150 }
let reached = 0

async function rows(h: TestHerald) {
  const [row] = await h.db.sql<{ n: number }[]>`select (select count(*) from alarms) + (select count(*) from alarm_messages) + (select count(*) from user_seqs) as n`
  return Number(row!.n)
}

/** Sends a request through the app; returns the status and, for errors, the JSON code. */
async function send(h: TestHerald, path: string, init: RequestInit = {}) {
  let request: Request
  try {
    request = new Request(`http://localhost${path}`, init)
  } catch {
    return undefined // not even a valid HTTP request: no client could send it
  }
  const res = await h.herald.app.handle(request)
  reached++
  // Over Herald's header budget, 431 HEADERS_TOO_LARGE is the one right answer, whatever the content.
  let size = request.url.length
  request.headers.forEach((value, name) => (size += name.length + value.length + 4))
  const big = size > MAX_HEADER_BYTES
  if (res.headers.get('content-type')?.startsWith('text/event-stream')) {
    await res.body?.cancel()
    expect(big).toBe(false)
    return { status: res.status, code: undefined, big }
  }
  const body = await res.json()
  const code = body?.error?.code as string | undefined
  expect(code === 'HEADERS_TOO_LARGE').toBe(big)
  return { status: res.status, code, big }
}

function expectClean(result: { status: number; code?: string; big: boolean } | undefined, allowed: string[]) {
  if (!result) return
  expect(result.status).not.toBe(500)
  if (result.big) return expect(result.status).toBe(431)
  if (result.status === 200) return
  expect(result.status).toBeGreaterThanOrEqual(400)
  expect(result.status).toBeLessThan(500)
  expect(allowed).toContain(result.code!)
}

const printable = fc.string({ unit: fc.constantFrom(...' !#$%&()*+,-./0123456789:;<=>?@ABCDEFGHIJKLMNOPQRSTUVWXYZ[]^_`abcdefghijklmnopqrstuvwxyz{|}~'.split('')), maxLength: 300 })
const weird = fc.oneof(
  printable,
  fc.string({ unit: 'grapheme', maxLength: 200 }),
  fc.string({ unit: 'binary', maxLength: 200 }),
  fc.constantFrom('*', '../../etc/passwd', "'; drop table alarms; --", 'x'.repeat(10_000), '\r\n\r\nevent: x', '%00', '-1', '1e5', '0x10', '99999999999999999999'),
)
const tag = fc.constantFrom('ko', 'en-US', 'ja', 'zh-Hant', '*', 'US-en', 'xx', 'en_GB', 'i-klingon', '', 'a-b-c-d-e-f')
const acceptLanguage = fc.oneof(
  printable,
  fc.array(fc.tuple(tag, fc.oneof(fc.constant(''), fc.double().map((q) => `;q=${q}`), printable.map((p) => `;${p}`))), { maxLength: 3000 }).map((entries) => entries.map(([t, q]) => t + q).join(',')),
  fc.constant('ko,'.repeat(5000)),
)

describe('subscribe', () => {
  test('any Accept-Language is skipped or used, never an error', async () => {
    await fc.assert(
      fc.asyncProperty(acceptLanguage, async (header) => {
        const result = await send(open, '/connection/u', { headers: { 'accept-language': header } })
        if (result) expect(result.status).toBe(result.big ? 431 : 200)
      }),
      RUNS,
    )
  })

  test('any lang is a stream or 400 INVALID_LOCALE', async () => {
    await fc.assert(
      fc.asyncProperty(fc.oneof(weird, fc.array(tag, { maxLength: 30 }).map((t) => t.join(','))), async (lang) => {
        expectClean(await send(open, `/connection/u?lang=${encodeURIComponent(lang)}`), ['INVALID_LOCALE'])
      }),
      RUNS,
    )
  })

  test('any since or Last-Event-ID is a stream or 400 INVALID_CURSOR', async () => {
    await fc.assert(
      fc.asyncProperty(weird, fc.boolean(), async (cursor, asHeader) => {
        const result = asHeader
          ? await send(open, '/connection/u', { headers: { 'last-event-id': cursor } })
          : await send(open, `/connection/u?since=${encodeURIComponent(cursor)}`)
        expectClean(result, ['INVALID_CURSOR'])
      }),
      RUNS,
    )
  })

  test('any userId is a stream, 400 INVALID_USER_ID or 404, and nothing is written', async () => {
    const before = await rows(open)
    await fc.assert(
      fc.asyncProperty(fc.oneof(weird, fc.string({ unit: 'grapheme', minLength: 150, maxLength: 400 })), fc.boolean(), async (userId, encode) => {
        const path = encode ? encodeURIComponent(userId) : userId.replace(/[?#]/g, '')
        expectClean(await send(open, `/connection/${path}`), ['INVALID_USER_ID', 'NOT_FOUND'])
      }),
      RUNS,
    )
    expect(await rows(open)).toBe(before)
  })

  test('any token is refused with 401 unless validly signed for that user', async () => {
    const secret = new TextEncoder().encode(SECRET)
    const valid = await new SignJWT({}).setProtectedHeader({ alg: 'HS256' }).setSubject('u').setExpirationTime('1h').sign(secret)
    const [h, p, s] = valid.split('.')
    const mutated = fc.oneof(
      weird,
      fc.constantFrom(
        `${base64url.encode('{"alg":"none"}')}.${p}.`,
        `${base64url.encode('{"alg":"HS512"}')}.${p}.${s}`,
        `${base64url.encode('{"alg":"RS256"}')}.${p}.${s}`,
        `${h}.${p}.${s!.slice(0, -2)}AA`,
        `${h}.${base64url.encode('{"sub":"u","exp":1}')}.${s}`,
      ),
      fc.nat({ max: valid.length - 1 }).map((i) => valid.slice(0, i) + (valid[i] === 'A' ? 'B' : 'A') + valid.slice(i + 1)),
    )
    await fc.assert(
      fc.asyncProperty(mutated, async (token) => {
        const result = await send(guarded, `/connection/u?token=${encodeURIComponent(token)}`)
        if (result && result.status !== 200) expectClean(result, ['UNAUTHORIZED'])
        // Only the untouched token may pass: the same bytes (base64url's last character carries
        // spare bits, so a different spelling can still decode to the very same signature).
        else if (result) expect(decodeSegments(token)).toEqual(decodeSegments(valid))
      }),
      RUNS,
    )
  })
})

function decodeSegments(token: string) {
  return token.split('.').map((part) => [...base64url.decode(part)])
}

describe('paths as a raw client writes them', () => {
  // fetch and new Request() rewrite a path before it is sent; a raw client does not, and Bun routes
  // by what was sent while request.url shows the rewrite.
  const dots = ['.', '..', '%2e', '%2E', '.%2e', '%2E.', '%2e%2E']
  const segment = fc.oneof(
    fc.constantFrom(...dots),
    fc.constantFrom('connection', 'alarms', 'health', 'client.js', 'dev', 'token', 'x', '', '...', '.x', 'x.', '%2ex', 'a\\b', 'x#y'),
  )
  const request = fc.record({
    segments: fc.array(segment, { minLength: 1, maxLength: 5 }),
    method: fc.constantFrom('GET', 'POST', 'HEAD', 'PUT', 'DELETE'),
    host: fc.constantFrom('127.0.0.1', 'h', 'herald.example.com:8080'),
  })

  test('a . or .. segment (raw or %2e), a \\ or a # is 404 NOT_FOUND on any route, method and Host; nothing else is a 405 naming its own method', async () => {
    await fc.assert(
      fc.asyncProperty(request, async ({ segments, method, host }) => {
        const path = '/' + segments.join('/')
        const misspelled = segments.some((s) => dots.includes(s)) || /[\\#]/.test(path)
        // (A stream another run opened may bump its generation any time later: a 404 opened none.)
        const before = await rows(open)
        const res = await rawRequest(open.url, `${method} ${path} HTTP/1.1\r\nHost: ${host}\r\nConnection: close\r\n\r\n`)
        reached++
        expect(res.status).not.toBe(500)
        expect(res.headers.allow?.split(', ') ?? []).not.toContain(method === 'HEAD' ? 'GET' : method)
        if (!misspelled) return
        expect(res.status).toBe(404)
        if (method !== 'HEAD') expect(JSON.parse(res.body).error.code).toBe('NOT_FOUND')
        expect(await rows(open)).toBe(before)
      }),
      RUNS,
    )
  })
})

test('a malformed escape before a trailing slash is INVALID_USER_ID, not a body error', async () => {
  for (const path of ['/connection/%/', '/connection/%20%20%/'])
    expect(await send(open, path)).toMatchObject({ status: 400, code: 'INVALID_USER_ID' })
})

describe('publish', () => {
  const hostileString = fc.oneof(weird, fc.constantFrom("x'); delete from alarms; --", '\n\nevent: superseded\ndata: x', '\u0000', '\ud800', '💥'.repeat(2000)))
  const json: fc.Arbitrary<unknown> = fc.letrec((tie) => ({
    value: fc.oneof({ depthSize: 'small' }, hostileString, fc.double(), fc.boolean(), fc.constant(null), fc.array(tie('value'), { maxLength: 5 }), fc.dictionary(hostileString, tie('value'), { maxKeys: 5 })),
  })).value
  const body = fc.oneof(
    json,
    fc.record({ userId: fc.oneof(hostileString, json), messages: fc.oneof(json, fc.dictionary(fc.oneof(tag, hostileString), fc.oneof(hostileString, json), { maxKeys: 4 })), data: json, key: fc.oneof(hostileString, json) }, { requiredKeys: [] }),
    fc.nat({ max: 2000 }).map((depth) => ({ userId: 'u', messages: { ko: 'x' }, data: JSON.parse('{"a":'.repeat(depth) + '1' + '}'.repeat(depth)) })),
    fc.constant({ userId: 'u', messages: { ko: 'x' }, data: { blob: 'x'.repeat(70_000) } }),
  )

  test('any body is stored whole or refused with a 4xx code, never half-written', async () => {
    await fc.assert(
      fc.asyncProperty(body, async (value) => {
        const before = await rows(open)
        const result = await send(open, '/alarms', { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(value) ?? 'undefined' })
        if (result?.status === 201) return
        expectClean(result, ['INVALID_BODY', 'INVALID_JSON', 'INVALID_LOCALE', 'INVALID_USER_ID', 'PAYLOAD_TOO_LARGE'])
        expect(await rows(open)).toBe(before)
      }),
      RUNS,
    )
  })

  // JSON's number grammar, with digits and exponents wide enough to leave a double's range and
  // precision both ways.
  const digits = (minLength: number, maxLength: number) => fc.string({ unit: fc.constantFrom(...'0123456789'), minLength, maxLength })
  const integer = fc.oneof(fc.constant('0'), fc.tuple(fc.constantFrom(...'123456789'), digits(0, 30)).map(([first, rest]) => first + rest))
  const exponent = fc.tuple(fc.constantFrom('e', 'E'), fc.constantFrom('', '+', '-'), fc.integer({ min: 0, max: 400 })).map((parts) => parts.join(''))
  const numberText = fc
    .tuple(fc.constantFrom('', '-'), integer, fc.option(digits(1, 30).map((frac) => '.' + frac)), fc.option(exponent))
    .map(([sign, int, frac, exp]) => sign + int + (frac ?? '') + (exp ?? ''))

  test('any JSON number in data is stored as that very number, or refused naming it, storing nothing', async () => {
    await fc.assert(
      fc.asyncProperty(numberText, async (text) => {
        const before = await rows(open)
        const body = `{"userId":"numbers","messages":{"ko":"x"},"data":{"n":${text}}}`
        const result = await send(open, '/alarms', { method: 'POST', headers: { 'content-type': 'application/json' }, body })
        // The oracle is PostgreSQL's numeric, exact decimal arithmetic: does the double JavaScript
        // reads from the text denote the very number the text does?
        const [oracle] = await open.db.sql<{ exact: boolean }[]>`select ${text}::numeric = ${String(Number(text))}::numeric as exact`
        if (oracle!.exact) {
          expect(result!.status).toBe(201)
          const [stored] = await open.db.sql<{ same: boolean }[]>`
            select (data->>'n')::numeric = ${text}::numeric as same from alarms where user_id = 'numbers' order by id desc limit 1`
          expect(stored!.same).toBe(true)
        } else {
          expect(result).toMatchObject({ status: 400, code: 'INVALID_BODY' })
          expect(await rows(open)).toBe(before)
        }
      }),
      RUNS,
    )
  })

  test('raw bytes that are not JSON are 400 INVALID_JSON', async () => {
    await fc.assert(
      fc.asyncProperty(fc.uint8Array({ maxLength: 500 }), async (bytes) => {
        const result = await send(open, '/alarms', { method: 'POST', headers: { 'content-type': 'application/json' }, body: bytes })
        expectClean(result, ['INVALID_JSON', 'INVALID_BODY', 'INVALID_USER_ID', 'INVALID_LOCALE'])
      }),
      RUNS,
    )
  })
})

describe('strings PostgreSQL cannot hold exactly', () => {
  // NUL: PostgreSQL's text refuses it (22021, a 500 if it got that far). A lone surrogate: UTF-8
  // cannot carry it, so the driver sends U+FFFD and two different values would become one.
  const poison = fc.oneof(fc.constant('\u0000'), fc.integer({ min: 0xd800, max: 0xdfff }).map((unit) => String.fromCharCode(unit)))
  const spliced = (base: fc.Arbitrary<string>) =>
    fc.tuple(base, poison, fc.nat()).map(([text, bad, at]) => {
      const i = at % (text.length + 1)
      return text.slice(0, i) + bad + text.slice(i)
    })
  // Splicing may split a surrogate pair of the base: the result is ill-formed all the same.
  const text = spliced(fc.string({ unit: fc.constantFrom(...'abz -_.é한', '💥'), minLength: 1, maxLength: 20 }))
  const valid = { userId: 'poison-target', messages: { ko: 'x' } }
  const field = fc.oneof(
    text.map((bad) => ({ ...valid, userId: bad })),
    text.map((bad) => ({ ...valid, key: bad })),
    text.map((bad) => ({ ...valid, messages: { ko: 'fine', ja: bad } })),
    text.map((bad) => ({ ...valid, messages: { [bad]: 'x' } })),
    text.map((bad) => ({ ...valid, data: { a: bad } })),
    text.map((bad) => ({ ...valid, data: { list: [1, { deep: [bad] }] } })),
    text.map((bad) => ({ ...valid, data: { [bad]: 1 } })),
    text.map((bad) => ({ ...valid, data: { a: { [bad]: true } } })),
  )

  test('any string field of a publish with NUL or a lone surrogate is a 400, and nothing is stored', async () => {
    const before = await rows(open)
    await fc.assert(
      fc.asyncProperty(field, async (value) => {
        const result = await send(open, '/alarms', { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(value) })
        expect(result?.status).toBe(400)
        expect(['INVALID_BODY', 'INVALID_USER_ID', 'INVALID_LOCALE']).toContain(result!.code!)
      }),
      RUNS,
    )
    expect(await rows(open)).toBe(before)
  })

  test('a path userId with NUL or a lone surrogate (as its UTF-8-style escape) is 400 INVALID_USER_ID', async () => {
    const escape = (bad: string) => {
      const unit = bad.charCodeAt(0)
      if (unit === 0) return '%00'
      // The three bytes UTF-8 would use, were surrogates allowed (CESU-8): invalid UTF-8.
      return [0xe0 | (unit >> 12), 0x80 | ((unit >> 6) & 0x3f), 0x80 | (unit & 0x3f)].map((b) => '%' + b.toString(16).toUpperCase()).join('')
    }
    const base = fc.string({ unit: fc.constantFrom(...'abz-_é한'), maxLength: 10 })
    await fc.assert(
      fc.asyncProperty(base, poison, base, async (before, bad, after) => {
        const path = `/connection/${encodeURIComponent(before)}${escape(bad)}${encodeURIComponent(after)}`
        expect(await send(open, path)).toMatchObject({ status: 400, code: 'INVALID_USER_ID' })
      }),
      RUNS,
    )
  })
})

describe('templates', () => {
  const text = fc.oneof(
    printable,
    fc.string({ unit: fc.constantFrom(...'{}#,=<>/\'' .split(''), 'plural', 'select', 'number', 'date', 'one', 'other', 'few', ' x', '::currency/EUR', 'n'), maxLength: 60 }),
    weird,
  )
  const templateBody = fc.oneof(
    fc.jsonValue({ maxDepth: 3 }),
    fc.record({ messages: fc.dictionary(fc.oneof(tag, printable), text, { maxKeys: 4 }), description: fc.oneof(printable, fc.jsonValue()) }, { requiredKeys: [] }),
  )

  test('any PUT /templates body is stored whole or refused with a 4xx code, and nothing is half-written', async () => {
    await fc.assert(
      fc.asyncProperty(fc.oneof(fc.constant('k'), printable.map(encodeURIComponent)), templateBody, async (key, value) => {
        const [before] = await open.db.sql<{ n: number }[]>`select count(*)::int + coalesce(sum(version), 0)::int as n from templates`
        const result = await send(open, `/templates/${key}`, { method: 'PUT', headers: { 'content-type': 'application/json' }, body: JSON.stringify(value) ?? 'null' })
        if (result?.status === 201 || result?.status === 200) return
        expectClean(result, ['INVALID_BODY', 'INVALID_JSON', 'INVALID_LOCALE', 'INVALID_TEMPLATE', 'INVALID_TEMPLATE_KEY', 'TEMPLATE_ARGUMENTS_CHANGED', 'TOO_MANY_LOCALES', 'NOT_FOUND', 'METHOD_NOT_ALLOWED'])
        const [after] = await open.db.sql<{ n: number }[]>`select count(*)::int + coalesce(sum(version), 0)::int as n from templates`
        expect(after!.n).toBe(before!.n)
      }),
      RUNS,
    )
  })

  test('any tz is a stream or 400 INVALID_TIME_ZONE', async () => {
    await fc.assert(
      fc.asyncProperty(weird, async (tz) => {
        expectClean(await send(open, `/connection/u?tz=${encodeURIComponent(tz)}`), ['INVALID_TIME_ZONE'])
      }),
      RUNS,
    )
  })
})

test('the generators produced requests that reached Herald (the properties above were not vacuous)', () => {
  expect(reached).toBeGreaterThan(RUNS.numRuns * 10)
  expect(reached).toBeGreaterThan(RUNS.numRuns * 6)
})
