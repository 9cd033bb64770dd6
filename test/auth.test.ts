import { afterAll, beforeAll, describe, expect, test } from 'bun:test'
import { exportSPKI, generateKeyPair, SignJWT, base64url } from 'jose'
import { ConfigError, readConfig } from '../src/config'
import { nextAlarm, ready, testHerald, type TestHerald } from './helpers/herald'
import { readSse } from './helpers/sse'

const SECRET = 'a-test-secret-that-is-at-least-32-bytes-long'
const PUBLISH_KEY = 'publisher-key-0123456789'
const secret = new TextEncoder().encode(SECRET)

function token(sub: string, { expSeconds = 60, key = secret, alg = 'HS256' } = {}) {
  return new SignJWT({})
    .setProtectedHeader({ alg })
    .setSubject(sub)
    .setExpirationTime(Math.floor(Date.now() / 1000) + expSeconds)
    .sign(key)
}

let h: TestHerald
beforeAll(async () => {
  h = await testHerald('auth', { jwtSecret: SECRET, publishKeys: [PUBLISH_KEY], heartbeatMs: 100 })
})
afterAll(async () => {
  await h[Symbol.asyncDispose]()
})

const subscribeUrl = (user: string, query = '') => new URL(`/connection/${user}?lang=ko${query}`, h.url)

async function publishAs(key: string | undefined, body: object) {
  return fetch(new URL('/alarms', h.url), {
    method: 'POST',
    headers: { 'content-type': 'application/json', ...(key ? { authorization: `Bearer ${key}` } : {}) },
    body: JSON.stringify(body),
  })
}

describe('subscribers', () => {
  test('without a token: 401 UNAUTHORIZED with WWW-Authenticate', async () => {
    const res = await fetch(subscribeUrl('alice'))
    expect(res.status).toBe(401)
    expect(res.headers.get('www-authenticate')).toContain('Bearer')
    expect((await res.json()).error.code).toBe('UNAUTHORIZED')
  })

  test.each(['header', 'query', 'cookie'] as const)('a valid token in the %s opens the stream', async (where) => {
    const jwt = await token('alice')
    const headers: Record<string, string> =
      where === 'header' ? { authorization: `Bearer ${jwt}` } : where === 'cookie' ? { cookie: `x=1; herald_token=${jwt}` } : {}
    const res = await fetch(subscribeUrl('alice', where === 'query' ? `&token=${jwt}` : ''), { headers })
    expect(res.status).toBe(200)
    const sub = readSse(res)
    expect((await ready(sub)).userId).toBe('alice')
    await sub.cancel()
  })

  test("another user's token: 403 FORBIDDEN", async () => {
    const res = await fetch(subscribeUrl('alice', `&token=${await token('mallory')}`))
    expect(res.status).toBe(403)
    expect((await res.json()).error.code).toBe('FORBIDDEN')
  })

  test('an expired, tampered, unsigned or wrongly signed token: 401', async () => {
    const good = await token('alice')
    const [header, payload] = good.split('.')
    const forged = JSON.parse(new TextDecoder().decode(base64url.decode(payload!)))
    forged.sub = 'alice'
    forged.exp += 3600
    const none = `${base64url.encode(JSON.stringify({ alg: 'none' }))}.${payload}.`
    const bad = [
      ['expired', await token('alice', { expSeconds: -10 })],
      ['tampered', `${header}.${base64url.encode(JSON.stringify(forged))}.${good.split('.')[2]}`],
      ['alg none', none],
      ['another secret', await token('alice', { key: new TextEncoder().encode('x'.repeat(40)) })],
      ['another algorithm', await token('alice', { alg: 'HS512' })],
      ['garbage', 'not.a.token'],
    ]
    for (const [why, jwt] of bad) {
      const res = await fetch(subscribeUrl('alice', `&token=${jwt}`))
      expect({ why, status: res.status }).toEqual({ why, status: 401 })
      expect((await res.json()).error.code).toBe('UNAUTHORIZED')
    }
  })

  test('a token without exp is refused', async () => {
    const jwt = await new SignJWT({}).setProtectedHeader({ alg: 'HS256' }).setSubject('alice').sign(secret)
    expect((await fetch(subscribeUrl('alice', `&token=${jwt}`))).status).toBe(401)
  })

  test('a token that expires while its stream is open ends it with event: expired', async () => {
    const res = await fetch(subscribeUrl('expiring', `&token=${await token('expiring', { expSeconds: 1 })}`))
    const sub = readSse(res)
    await ready(sub)
    const event = await sub.nextEvent()
    expect(event?.event).toBe('expired')
    expect(await sub.ended()).toEqual([])
    expect(h.herald.live.generationOf('expiring')).toBeUndefined()
  })
})

describe('publishers', () => {
  const body = { userId: 'alice', messages: { ko: '안녕' } }

  test('without a key, or with a wrong one: 401, nothing stored', async () => {
    for (const key of [undefined, 'wrong-key-wrong-key', PUBLISH_KEY + 'x']) {
      const res = await publishAs(key, body)
      expect(res.status).toBe(401)
      expect((await res.json()).error.code).toBe('UNAUTHORIZED')
    }
    const [row] = await h.db.sql`select count(*)::int as n from alarms`
    expect(row!.n).toBe(0)
  })

  test('with a configured key: published and delivered', async () => {
    const res = await fetch(subscribeUrl('bob', `&token=${await token('bob')}`))
    const sub = readSse(res)
    await ready(sub)
    expect((await publishAs(PUBLISH_KEY, { ...body, userId: 'bob' })).status).toBe(201)
    expect((await nextAlarm(sub)).message).toBe('안녕')
    await sub.cancel()
  })
})

describe('ES256 public key', () => {
  test('verifies tokens signed by the private key and nothing else', async () => {
    const { publicKey, privateKey } = await generateKeyPair('ES256', { extractable: true })
    await using es = await testHerald('auth_es', { jwtPublicKey: await exportSPKI(publicKey) })
    const ok = await fetch(new URL(`/connection/carol?token=${await token('carol', { key: privateKey as never, alg: 'ES256' })}`, es.url))
    expect(ok.status).toBe(200)
    await ok.body?.cancel()
    const hs = await fetch(new URL(`/connection/carol?token=${await token('carol')}`, es.url))
    expect(hs.status).toBe(401)
  })
})

describe('dev tokens', () => {
  test('POST /dev/token mints a working short-lived token when HERALD_DEV_TOKENS turns it on', async () => {
    await using dev = await testHerald('auth_dev', { jwtSecret: SECRET, devTokens: true })
    const res = await fetch(new URL('/dev/token', dev.url), {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ userId: 'demo' }),
    })
    expect(res.status).toBe(200)
    const { token: jwt, expiresIn } = await res.json()
    expect(expiresIn).toBe(900)
    const stream = await fetch(new URL(`/connection/demo?token=${jwt}`, dev.url))
    expect(stream.status).toBe(200)
    await stream.body?.cancel()
  })

  test('is not served unless turned on (whatever NODE_ENV says), nor without an HS256 secret', async () => {
    // h holds the secret and runs outside production: that alone no longer mints.
    await using typo = await testHerald('auth_typo', readConfig({ NODE_ENV: 'Production', HERALD_JWT_SECRET: SECRET }))
    await using open = await testHerald('auth_open', { devTokens: true })
    for (const server of [h, typo, open]) {
      const res = await fetch(new URL('/dev/token', server.url), {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: '{"userId":"demo"}',
      })
      expect(res.status).toBe(404)
    }
  })
})

describe('CORS', () => {
  test('listed origins get credentials and a preflight; others get no CORS headers', async () => {
    await using c = await testHerald('cors', { corsOrigins: ['https://app.example'] })
    const pre = await fetch(new URL('/alarms', c.url), {
      method: 'OPTIONS',
      headers: { origin: 'https://app.example', 'access-control-request-method': 'POST' },
    })
    expect(pre.status).toBe(204)
    expect(pre.headers.get('access-control-allow-origin')).toBe('https://app.example')
    expect(pre.headers.get('access-control-allow-credentials')).toBe('true')
    expect(pre.headers.get('access-control-allow-methods')).toContain('POST')
    const listed = await fetch(new URL('/health', c.url), { headers: { origin: 'https://app.example' } })
    expect(listed.headers.get('access-control-allow-origin')).toBe('https://app.example')
    const other = await fetch(new URL('/health', c.url), { headers: { origin: 'https://evil.example' } })
    expect(other.headers.get('access-control-allow-origin')).toBeNull()
    const otherPre = await fetch(new URL('/alarms', c.url), { method: 'OPTIONS', headers: { origin: 'https://evil.example' } })
    expect(otherPre.status).toBe(405)
  })
})

describe('auth configuration', () => {
  const error = (env: Record<string, string>) => {
    try {
      readConfig(env)
    } catch (e) {
      return e as ConfigError
    }
  }

  test('production refuses to start without auth, naming what is missing', () => {
    expect(error({ NODE_ENV: 'production' })?.variable).toBe('HERALD_JWT_SECRET')
    expect(error({ NODE_ENV: 'production', HERALD_JWT_SECRET: SECRET })?.variable).toBe('HERALD_PUBLISH_KEYS')
    expect(error({ NODE_ENV: 'production', HERALD_JWT_SECRET: SECRET, HERALD_PUBLISH_KEYS: PUBLISH_KEY })).toBeUndefined()
  })

  test('HERALD_AUTH=none runs production without auth on purpose; other values are refused', () => {
    expect(error({ NODE_ENV: 'production', HERALD_AUTH: 'none' })).toBeUndefined()
    expect(error({ HERALD_AUTH: 'off' })?.variable).toBe('HERALD_AUTH')
  })

  test('weak or malformed secrets are refused', () => {
    expect(error({ HERALD_JWT_SECRET: 'short' })?.variable).toBe('HERALD_JWT_SECRET')
    expect(error({ HERALD_JWT_PUBLIC_KEY: 'nope' })?.variable).toBe('HERALD_JWT_PUBLIC_KEY')
    expect(error({ HERALD_PUBLISH_KEYS: 'tiny' })?.variable).toBe('HERALD_PUBLISH_KEYS')
    expect(error({ HERALD_CORS_ORIGINS: 'https://a.example/path' })?.variable).toBe('HERALD_CORS_ORIGINS')
  })
})
