// Paths as a raw client writes them. Bun routes by the request target as sent, while request.url
// is the URL parser's rewrite of it (dot segments resolved, `\` read as `/`, `#` ending the path):
// Herald must never serve one path while its handler reads another.
import { afterAll, beforeAll, describe, expect, test } from 'bun:test'
import { ready, testHerald, type TestHerald } from './helpers/herald'
import { rawRequest } from './helpers/raw'

let h: TestHerald
beforeAll(async () => {
  h = await testHerald('paths', { reconnectBurst: 10_000, reconnectPerMinute: 600_000, publishRate: 0 })
})
afterAll(async () => {
  await h[Symbol.asyncDispose]()
})

// A short Host once changed the answer: Elysia's own router looks for the path's first `/` after
// the 11th character of the URL.
const HOSTS = ['127.0.0.1', 'h']

function send(method: string, path: string, host: string, body: string | null = null) {
  const content = body === null ? '' : `Content-Type: application/json\r\nContent-Length: ${Buffer.byteLength(body)}\r\n`
  return rawRequest(h.url, `${method} ${path} HTTP/1.1\r\nHost: ${host}\r\nConnection: close\r\n${content}\r\n${body ?? ''}`)
}

/** Changes with every alarm stored and every stream opened (an open bumps its user's generation). */
async function written() {
  const [row] = await h.db.sql<{ n: string }[]>`
    select (select count(*) from alarms) || '/' || (select coalesce(sum(generation), 0) from user_generations) as n`
  return row!.n
}

const publish = JSON.stringify({ userId: 'x', messages: { ko: 'x' } })

describe('a path with a dot segment, a backslash or a # is 404 NOT_FOUND, whatever the Host', () => {
  const cases: [string, string, string | null][] = [
    ['GET', '/connection/.', null],
    ['GET', '/connection/..', null],
    ['GET', '/connection/%2e', null],
    ['GET', '/connection/%2E', null],
    ['GET', '/connection/%2e%2E', null],
    ['GET', '/connection/.%2e', null],
    ['GET', '/./connection/x', null],
    ['GET', '/x/../connection/x', null],
    ['GET', '/%2e/connection/x', null],
    ['GET', '/connection/x/.', null],
    ['GET', '/connection/x/..', null],
    ['GET', '/alarms/..', null],
    ['GET', '/health/.', null],
    ['HEAD', '/./health', null],
    ['GET', '/connection/a\\b', null],
    ['GET', '/connection/x#y', null],
    ['GET', '/health#x', null],
    // Bun's router takes these with a 405 route of the path (`..`, `a\b`, `x#y` as the userId):
    // request.url names another path, and a 405 would be about that one.
    ['PUT', '/connection/.%2e', null],
    ['POST', '/connection/%2e%2E', '{}'],
    ['DELETE', '/connection/a\\b', null],
    ['PATCH', '/connection/x#y', null],
    ['POST', '/./alarms', publish],
    ['POST', '/x/%2e%2e/alarms', publish],
  ]
  for (const host of HOSTS)
    test.each(cases)(`%s %s (Host: ${host})`, async (method, path, body) => {
      const before = await written()
      const res = await send(method, path, host, body)
      expect(res.status).toBe(404)
      if (method !== 'HEAD') expect(JSON.parse(res.body).error.code).toBe('NOT_FOUND')
      expect(await written()).toBe(before)
    })
})

describe('canonical paths on the same socket still work, whatever the Host', () => {
  for (const host of HOSTS) {
    test(`GET /connection/x opens x's stream (Host: ${host})`, async () => {
      const res = await send('GET', '/connection/x', host)
      expect(res.status).toBe(200)
      expect(res.headers['content-type']).toStartWith('text/event-stream')
    })

    test(`POST /alarms publishes (Host: ${host})`, async () => {
      expect((await send('POST', '/alarms', host, publish)).status).toBe(201)
    })

    test(`POST /connection/x is a 405 naming GET (Host: ${host})`, async () => {
      const res = await send('POST', '/connection/x', host, '{}')
      expect(res.status).toBe(405)
      expect(res.headers.allow).toBe('GET')
      expect(JSON.parse(res.body).error.code).toBe('METHOD_NOT_ALLOWED')
    })

    test(`GET /nope is a 404 (Host: ${host})`, async () => {
      expect((await send('GET', '/nope', host)).status).toBe(404)
    })
  }

  test('a percent-encoded slash or backslash is part of the userId, as the router reads it', async () => {
    const sub = await h.subscribe('a/b\\c')
    expect((await ready(sub)).userId).toBe('a/b\\c')
    await sub.cancel()
  })
})

test('no answer is a 405 whose Allow names the method that was used', async () => {
  for (const host of HOSTS)
    for (const [method, path] of [['GET', '/./connection/x', null], ['GET', '/x/../connection/x', null], ['GET', '/alarms/..', null], ['POST', '/./alarms']]) {
      const res = await send(method!, path!, host, method === 'POST' ? publish : null)
      expect(res.headers.allow?.split(', ') ?? []).not.toContain(method)
    }
})
