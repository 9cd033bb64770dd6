// No token, key or message text in any log line: a real Herald with every secret set, driven
// through publishes, streams and every failure a client can cause, with every line it writes read.
import { afterAll, beforeAll, expect, test } from 'bun:test'
import { SignJWT } from 'jose'
import { testDb, type TestDb } from './helpers/db'
import { ready } from './helpers/herald'
import { startEntry, type Started } from './helpers/process'
import { readSse } from './helpers/sse'

const SECRET = 'log-test-secret-that-is-at-least-32-bytes'
const KEYS = ['log-test-publish-key-one', 'log-test-publish-key-two']
const WRONG_KEY = 'not-a-key-but-looks-like-one-0123'
const METRICS_TOKEN = 'log-test-metrics-token-0123'
const TEXTS = ['비밀 메시지 하나', 'a private message text', 'ein geheimer Text', 'texte dans un corps refusé', 'texte trop long '] as const

let db: TestDb
let herald: Started
beforeAll(async () => {
  db = await testDb('log_secrets')
  const { REDIS_URL: _, HERALD_REDIS_PREFIX: __, ...inherited } = process.env
  herald = await startEntry('src/cli/main.ts', {
    env: {
      ...inherited,
      DATABASE_URL: db.url,
      PORT: '0',
      HOST: '127.0.0.1',
      NODE_ENV: 'production',
      HERALD_LOG: 'json',
      HERALD_JWT_SECRET: SECRET,
      HERALD_PUBLISH_KEYS: KEYS.join(','),
      HERALD_METRICS_TOKEN: METRICS_TOKEN,
      HERALD_DEV_TOKENS: 'anyone-can-mint',
      HERALD_RECONNECT_BURST: '3',
      HERALD_HEARTBEAT_MS: '40',
    },
  })
})
afterAll(async () => {
  await herald?.stop()
  await db[Symbol.asyncDispose]()
})

const post = (path: string, body: string, headers: Record<string, string> = {}) =>
  fetch(herald.url + path, { method: 'POST', headers: { 'content-type': 'application/json', ...headers }, body })

test('no log line, in any part of a busy life, holds a secret, a key, a token or a message text', async () => {
  const tokens: string[] = []
  const auth = { authorization: `Bearer ${KEYS[1]}` }
  // Publishes: one stored, then every way a publish can fail, each carrying a text.
  expect((await post('/alarms', JSON.stringify({ userId: 'tiaz', messages: { ko: TEXTS[0], en: TEXTS[1] } }), auth)).status).toBe(201)
  expect((await post('/alarms', JSON.stringify({ userId: 'tiaz', messages: { de: TEXTS[2] } }), { authorization: `Bearer ${WRONG_KEY}` })).status).toBe(401)
  expect((await post('/alarms', `{"userId":"tiaz","messages":{"fr":"${TEXTS[3]}"`, auth)).status).toBe(400)
  expect((await post('/alarms', JSON.stringify({ userId: 'tiaz', messages: { fr: TEXTS[3] }, extra: TEXTS[3] }), auth)).status).toBe(400)
  expect((await post('/alarms', JSON.stringify({ userId: 'tiaz', messages: { fr: TEXTS[4].repeat(300) } }), auth)).status).toBe(400)
  expect((await post('/alarms', JSON.stringify({ userId: 'tiaz', messages: { fr: TEXTS[4].repeat(5000) } }), auth)).status).toBe(413)
  const keyed = JSON.stringify({ userId: 'tiaz', messages: { ko: TEXTS[0] }, key: 'k-1' })
  expect((await post('/alarms', keyed, auth)).status).toBe(201)
  expect((await post('/alarms', JSON.stringify({ userId: 'tiaz', messages: { ko: TEXTS[1] }, key: 'k-1' }), auth)).status).toBe(409)

  // Streams: a minted token by query, by header, by cookie; another user's; an expired one; too many reconnects.
  const minted = await (await post('/dev/token', '{"userId":"tiaz"}')).json()
  tokens.push(minted.token)
  const stream = readSse(await fetch(`${herald.url}/connection/tiaz?since=0&token=${minted.token}`))
  await ready(stream)
  expect(JSON.parse((await stream.nextEvent())!.data!).message).toBeOneOf([TEXTS[0], TEXTS[1]])
  await stream.next() // a heartbeat or the next alarm: the stream lives a little
  const viaHeader = await fetch(`${herald.url}/connection/tiaz`, { headers: { authorization: `Bearer ${minted.token}` } })
  expect(viaHeader.status).toBe(200)
  await viaHeader.body?.cancel()
  const other = await new SignJWT({}).setProtectedHeader({ alg: 'HS256' }).setSubject('someone-else').setExpirationTime('5m').sign(new TextEncoder().encode(SECRET))
  const expired = await new SignJWT({}).setProtectedHeader({ alg: 'HS256' }).setSubject('tiaz').setExpirationTime(Math.floor(Date.now() / 1000) - 60).sign(new TextEncoder().encode(SECRET))
  tokens.push(other, expired)
  expect((await fetch(`${herald.url}/connection/tiaz?token=${other}`)).status).toBe(403)
  expect((await fetch(`${herald.url}/connection/tiaz`, { headers: { cookie: `herald_token=${expired}` } })).status).toBe(401)
  const statuses: number[] = []
  for (let i = 0; i < 4; i++) {
    const res = await fetch(`${herald.url}/connection/tiaz`, { headers: { authorization: `Bearer ${minted.token}` } })
    statuses.push(res.status)
    await res.body?.cancel()
  }
  expect(statuses).toContain(429)
  await stream.cancel()

  // The metrics: with the token and with a wrong one; a path that names a token.
  expect((await fetch(`${herald.url}/metrics`, { headers: { authorization: `Bearer ${METRICS_TOKEN}` } })).status).toBe(200)
  expect((await fetch(`${herald.url}/metrics`, { headers: { authorization: `Bearer ${WRONG_KEY}` } })).status).toBe(401)
  expect((await fetch(`${herald.url}/nowhere/${minted.token}`)).status).toBe(404)

  // A poisoned row (an administrator switched the constraints off): logged, with its user, never its text.
  expect((await post('/alarms', JSON.stringify({ userId: 'poisoned', messages: { ko: TEXTS[0] } }), auth)).status).toBe(201)
  await db.sql.begin(async (tx) => {
    await tx`set local session_replication_role = replica`
    await tx`delete from alarm_messages where alarm_id in (select id from alarms where user_id = 'poisoned')`
  })
  const poisoned = readSse(await fetch(`${herald.url}/connection/poisoned?since=0&token=${await mint('poisoned')}`))
  await ready(poisoned)
  await herald.waitFor(/no text in any language/)
  await poisoned.cancel()

  expect(await herald.stop()).toBe(0)
  const lines = herald.output().split('\n').filter((line) => line.trim() !== '')
  expect(lines.length).toBeGreaterThan(3)
  for (const line of lines) {
    const entry = JSON.parse(line)
    expect(typeof entry.time).toBe('string')
    expect(['info', 'warn', 'error']).toContain(entry.level)
    expect(typeof entry.msg).toBe('string')
  }
  const all = lines.join('\n')
  for (const secret of [SECRET, ...KEYS, WRONG_KEY, METRICS_TOKEN, ...tokens, ...TEXTS]) expect(all).not.toContain(secret)
  // Not even the scrubber had to step in: nothing tried to write them.
  expect(all).not.toContain('[redacted]')
  expect(all).toContain('"userId":"poisoned"')
}, 60_000)

async function mint(userId: string): Promise<string> {
  const { token } = await (await post('/dev/token', JSON.stringify({ userId }))).json()
  return token
}
