// Random and hostile values at every input: always a 4xx with a JSON error code (or a stream where
// the input is legitimately acceptable), never a 500 or a crash, and the database unchanged.
import { afterAll, beforeAll, describe, expect, test } from 'bun:test'
import fc from 'fast-check'
import { SignJWT, base64url } from 'jose'
import { MAX_HEADER_BYTES } from '../src/http/limits'
import { testHerald, type TestHerald } from './helpers/herald'

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
  expect(reached).toBeGreaterThan(RUNS.numRuns * 6)
})
