// HEAD /connection/:userId answers what GET would, without GET's effects: it opens no stream, so
// it supersedes none, and takes neither a stream slot nor a reconnect token.
import { afterAll, beforeAll, describe, expect, test } from 'bun:test'
import { SignJWT } from 'jose'
import { nextAlarm, ready, testHerald, type TestHerald } from './helpers/herald'

const SECRET = 'head-suite-secret-of-at-least-32-bytes!'
let h: TestHerald
let guarded: TestHerald
beforeAll(async () => {
  h = await testHerald('head')
  guarded = await testHerald('head_auth', { jwtSecret: SECRET, publishKeys: ['head-publish-key-12345'] })
})
afterAll(async () => {
  await h[Symbol.asyncDispose]()
  await guarded[Symbol.asyncDispose]()
})

const head = (server: TestHerald, path: string, headers: Record<string, string> = {}) =>
  fetch(new URL(path, server.url), { method: 'HEAD', headers })

/** Changes whenever any stream is opened (every open bumps its user's generation). */
async function generations(server: TestHerald) {
  const [row] = await server.db.sql<{ sum: string }[]>`select coalesce(sum(generation), 0)::text as sum from user_generations`
  return row!.sum
}

describe('HEAD /connection/:userId', () => {
  test("answers the stream's headers with no body, and the user's live stream goes on", async () => {
    const live = await h.subscribe('watched', { lang: 'ko' })
    await ready(live)
    const before = await generations(h)
    for (let i = 0; i < 5; i++) {
      const res = await head(h, '/connection/watched?lang=ko')
      expect(res.status).toBe(200)
      expect(res.headers.get('content-type')).toBe('text/event-stream; charset=utf-8')
      expect(res.headers.get('cache-control')).toContain('no-store')
      expect(res.headers.get('content-language')).toBe(live.response.headers.get('content-language'))
      expect(await res.text()).toBe('')
    }
    expect(await generations(h)).toBe(before)
    // Barrier: the next event on the live stream is this alarm, not `superseded`.
    expect((await h.publish({ userId: 'watched', messages: { ko: 'still here' } })).status).toBe(201)
    expect((await nextAlarm(live)).message).toBe('still here')
    await live.cancel()
  })

  test('needs no stream slot: with HERALD_MAX_STREAMS taken, HEAD is still a 200', async () => {
    await using h = await testHerald('head_slots', { maxStreams: 1 })
    const live = await h.subscribe('slot-holder')
    await ready(live)
    expect((await fetch(new URL('/connection/someone-else', h.url))).status).toBe(503)
    expect((await head(h, '/connection/someone-else')).status).toBe(200)
    await live.cancel()
  })

  test('takes no reconnect token: after any number of HEADs, the burst is still whole', async () => {
    await using h = await testHerald('head_bucket', { reconnectBurst: 2, reconnectPerMinute: 1 })
    for (let i = 0; i < 10; i++) expect((await head(h, '/connection/bucket')).status).toBe(200)
    for (let i = 0; i < 2; i++) {
      const sub = await h.subscribe('bucket')
      await ready(sub)
      await sub.cancel()
    }
    expect((await fetch(new URL('/connection/bucket', h.url))).status).toBe(429) // the burst of 2, and no more
  })

  test('refuses what GET would refuse, with the same codes', async () => {
    expect((await head(h, '/connection/u?lang=US-en')).status).toBe(400)
    expect((await head(h, '/connection/u?since=x')).status).toBe(400)
    expect((await head(h, '/connection/%E0%A4%A')).status).toBe(400)
    expect((await head(guarded, '/connection/u')).status).toBe(401)
    const secret = new TextEncoder().encode(SECRET)
    const token = await new SignJWT({}).setProtectedHeader({ alg: 'HS256' }).setSubject('u').setExpirationTime('1h').sign(secret)
    expect((await head(guarded, '/connection/other', { authorization: `Bearer ${token}` })).status).toBe(403)
    expect((await head(guarded, '/connection/u', { authorization: `Bearer ${token}` })).status).toBe(200)
    expect(await generations(guarded)).toBe('0')
  })
})
