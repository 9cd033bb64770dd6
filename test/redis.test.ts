// Redis as the shared brain: two instances on one database exchange generations and wake-ups
// through Redis, fall back to PostgreSQL when Redis goes away (for everyone, or for one instance),
// and use Redis again when it is back. Faults use a redis-server of the test's own.
import { afterAll, beforeAll, describe, expect, test } from 'bun:test'
import { readConfig } from '../src/config'
import { createRedisGenerations } from '../src/signals/generations'
import { createRedisLink } from '../src/signals/redis'
import { createRegistry } from '../src/stream/registry'
import { startServer, type RunningServer } from '../src/http/server'
import { testDb, type TestDb } from './helpers/db'
import { nextAlarm, ready, testHerald, until, type TestHerald } from './helpers/herald'
import { spawnEntry, type Spawned } from './helpers/process'
import { ownRedis, proxyTo, type OwnRedis, type Proxy } from './helpers/redis'
import { readSse } from './helpers/sse'
import { scrape } from './helpers/metrics'

const MACHINE_REDIS = process.env.REDIS_URL ?? 'redis://127.0.0.1:6379'

type Log = { lines: string[]; log(): void; warn(...parts: unknown[]): void; error(...parts: unknown[]): void }

function recorder(): Log {
  const lines: string[] = []
  const record = (...parts: unknown[]) => void lines.push(parts.map(String).join(' '))
  return { lines, log() {}, warn: record, error: record }
}

type Pair = { a: TestHerald; b: RunningServer; logA: Log; logB: Log; db: TestDb; prefix: string }

/** Two instances on one database: A with `urlA`, B with `urlB` (the same Redis, reached two ways). */
async function pair(name: string, urlA: string, urlB = urlA): Promise<Pair> {
  const prefix = `herald-test-${crypto.randomUUID()}:`
  const [logA, logB] = [recorder(), recorder()]
  const a = await testHerald(name, { redisUrl: urlA, redisPrefix: prefix, log: logA })
  const config = { ...readConfig({}), databaseUrl: a.db.url, port: 0, hostname: '127.0.0.1' }
  const b = await startServer(config, { log: logB, overrides: { safetyPollMs: 0, redisUrl: urlB, redisPrefix: prefix, log: logB } })
  return { a, b, logA, logB, db: a.db, prefix }
}

async function unpair({ a, b }: Pair) {
  await b.stop()
  await a[Symbol.asyncDispose]()
}

async function subscribeTo(server: { url: string }, userId: string) {
  return readSse(await fetch(new URL(`/connection/${encodeURIComponent(userId)}?lang=ko`, server.url)))
}

async function publishTo(server: { url: string }, userId: string, message: string) {
  const res = await fetch(new URL('/alarms', server.url), {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ userId, messages: { ko: message } }),
  })
  expect(res.status).toBe(201)
}

async function health(server: { url: string }) {
  return (await (await fetch(new URL('/health', server.url))).json()) as { signals: string }
}

/**
 * Publishes for `userId` through `server` and reports whether that commit sent a NOTIFY. A direct
 * insert after it always does; NOTIFYs arrive in commit order, so once the marker is heard, the
 * publish's NOTIFY would have been heard first.
 */
async function publishNotified(db: TestDb, server: { url: string }, userId: string, message: string): Promise<boolean> {
  const heard: string[] = []
  const marker = `marker-${crypto.randomUUID()}`
  const { promise: markerHeard, resolve } = Promise.withResolvers<void>()
  const listening = await db.sql.listen(`herald_${db.schema}`, (user) => {
    heard.push(user)
    if (user === marker) resolve()
  })
  try {
    await publishTo(server, userId, message)
    await db.sql.begin(async (tx) => {
      const [row] = await tx`insert into alarms (user_id) values (${marker}) returning id`
      await tx`insert into alarm_messages (alarm_id, locale, message) values (${row!.id}, 'ko', 'marker')`
    })
    await markerHeard
    return heard.includes(userId)
  } finally {
    await listening.unlisten()
  }
}

/** Opens `userId` on `from`, then on `to`: the stream on `from` must end as superseded. */
async function supersedeAcross(from: { url: string }, to: { url: string }, userId: string) {
  const older = await subscribeTo(from, userId)
  const first = await ready(older)
  const newer = await subscribeTo(to, userId)
  const second = await ready(newer)
  expect(second.generation).toBeGreaterThan(first.generation)
  expect((await older.nextEvent())?.event).toBe('superseded')
  expect(await older.ended()).toEqual([])
  await newer.cancel()
  return second.generation
}

describe("with the machine's Redis", () => {
  let p: Pair
  const redis = new Bun.RedisClient(MACHINE_REDIS)
  beforeAll(async () => {
    p = await pair('redis', MACHINE_REDIS)
  })
  afterAll(async () => {
    await unpair(p)
    const keys = (await redis.send('KEYS', [`${p.prefix}*`])) as string[]
    if (keys.length) await redis.send('DEL', keys)
    redis.close()
  })

  test('generations come from Redis, with an expiry, and supersede across instances both ways', async () => {
    const second = await supersedeAcross(p.a, p.b, 'roamer')
    expect(Number(await redis.get(`${p.prefix}gen:roamer`))).toBe(second)
    expect(Number(await redis.send('PTTL', [`${p.prefix}gen:roamer`]))).toBeGreaterThan(0)
    const third = await supersedeAcross(p.b, p.a, 'roamer')
    expect(third).toBeGreaterThan(second)
    // Nothing went through PostgreSQL's counter.
    expect(await p.db.sql`select 1 from user_generations where user_id = 'roamer'`).toHaveLength(0)
  })

  test('a publish on B reaches a stream on A through Redis, and its commit sends no NOTIFY', async () => {
    const onA = await subscribeTo(p.a, 'across')
    await ready(onA)
    const heard = Promise.withResolvers<string>()
    const spy = new Bun.RedisClient(MACHINE_REDIS)
    await spy.subscribe(`${p.prefix}wake`, (message) => message.includes('"across"') && heard.resolve(message))
    try {
      expect(await publishNotified(p.db, p.b, 'across', 'via Redis')).toBe(false)
      expect(JSON.parse(await heard.promise)).toEqual(['across'])
      expect((await nextAlarm(onA)).message).toBe('via Redis')
    } finally {
      spy.close()
      await onA.cancel()
    }
  })

  test('an alarm written straight into PostgreSQL still wakes streams (its NOTIFY is kept)', async () => {
    const onA = await subscribeTo(p.a, 'direct')
    await ready(onA)
    await p.db.sql.begin(async (tx) => {
      const [row] = await tx`insert into alarms (user_id) values ('direct') returning id`
      await tx`insert into alarm_messages (alarm_id, locale, message) values (${row!.id}, 'ko', 'written by hand')`
    })
    expect((await nextAlarm(onA)).message).toBe('written by hand')
    await onA.cancel()
  })

  test('catch-up ends a local stream whose newer number was announced while disconnected', async () => {
    const registry = createRegistry()
    const link = createRedisLink({ url: MACHINE_REDIS, channels: [`${p.prefix}unused`], onMessage() {}, onUp() {}, onDown() {} })
    await link.start()
    try {
      const generations = createRedisGenerations(link, registry, { prefix: p.prefix, channel: `${p.prefix}unused` })
      const ended: string[] = []
      const holder = (userId: string) => ({ key: userId, generation: 0, superseded: () => void ended.push(userId) })
      registry.claim(holder('missed'), await generations.next('missed'))
      registry.claim(holder('current'), await generations.next('current'))
      await redis.send('INCR', [`${p.prefix}gen:missed`]) // another instance's open, its PUBLISH lost
      expect(await generations.catchUp()).toBe(1)
      expect(ended).toEqual(['missed'])
    } finally {
      link.stop()
    }
  })

  test('a stranger on the channels ends no stream: malformed messages are ignored and reported', async () => {
    const onA = await subscribeTo(p.a, 'stranger')
    await ready(onA)
    await redis.publish(`${p.prefix}generation`, 'NaN stranger')
    await redis.publish(`${p.prefix}generation`, 'stranger')
    await redis.publish(`${p.prefix}wake`, '{"not":"a list"}')
    await p.db.sql`select pg_notify(${`herald_${p.db.schema}_generation`}, 'x stranger')`
    // Redis delivers in order on one connection, and the alarm's wake-up comes after the junk.
    await publishTo(p.b, 'stranger', 'still here')
    const next = await onA.nextEvent()
    expect(next?.event).toBe('alarm')
    expect(JSON.parse(next!.data!).message).toBe('still here')
    await until(() => p.logA.lines.filter((line) => line.includes('malformed')).length === 4, 'four reports', 2000)
    expect(p.a.herald.live.generationOf('stranger')).toBeDefined() // the PostgreSQL one ended nothing either
    await onA.cancel()
  })

  test('/health names the backend', async () => {
    expect((await health(p.a)).signals).toBe('redis')
    expect((await health(p.b)).signals).toBe('redis')
  })
})

describe('Redis restarts under open streams (two Herald processes)', () => {
  let db: TestDb
  let redis: OwnRedis
  const processes: Spawned[] = []
  beforeAll(async () => {
    db = await testDb('redis_restart')
    redis = await ownRedis()
  })
  afterAll(async () => {
    await Promise.all(processes.map((proc) => proc.stop()))
    await redis.stop()
    await db[Symbol.asyncDispose]()
  })

  async function start() {
    const proc = spawnEntry('src/cli/main.ts', {
      env: {
        ...process.env,
        DATABASE_URL: db.url,
        HOST: '127.0.0.1',
        PORT: '0',
        REDIS_URL: redis.url,
        HERALD_REDIS_PREFIX: 'restart:', // its own redis-server: no one else's keys
        HERALD_SAFETY_POLL_MS: '86400000', // nothing arrives by the safety net here
      },
    })
    processes.push(proc)
    const { url } = await proc.listening()
    return { proc, url }
  }

  test('streams keep receiving and supersede keeps working through PostgreSQL, with a warning; then Redis is used again', async () => {
    const [a, b] = await Promise.all([start(), start()])
    expect((await health(a)).signals).toBe('redis')
    const steady = await subscribeTo(a, 'steady')
    await ready(steady)
    expect(await publishNotified(db, b, 'steady', 'before')).toBe(false)
    expect((await nextAlarm(steady)).message).toBe('before')

    await redis.stop()
    await Promise.all([a, b].map(({ proc }) => proc.waitFor(/Redis is unreachable/)))
    expect((await health(a)).signals).toBe('postgres (Redis unreachable)')
    expect(await publishNotified(db, b, 'steady', 'while Redis is down')).toBe(true)
    expect((await nextAlarm(steady)).message).toBe('while Redis is down')
    await supersedeAcross(a, b, 'roamer')
    await supersedeAcross(b, a, 'roamer')
    expect(await db.sql`select 1 from user_generations where user_id = 'roamer'`).toHaveLength(1)

    await redis.start() // empty: it kept nothing, not even the counters
    // Each is back, and has heard that the other is.
    await Promise.all([a, b].map(({ proc }) => proc.waitFor(/Redis is reachable again/, 1, 10_000)))
    await Promise.all([a, b].map(({ proc }) => proc.waitFor(/instance \w+ reaches Redis again/, 1, 10_000)))
    expect((await health(a)).signals).toBe('redis')
    expect((await health(b)).signals).toBe('redis')
    // Quiet commits reach A only through its Redis subscription: it subscribed again.
    expect(await publishNotified(db, b, 'steady', 'after')).toBe(false)
    expect((await nextAlarm(steady)).message).toBe('after')
    // The counters started over in Redis, but the clock keeps every new number above the old ones.
    await supersedeAcross(a, b, 'roamer')
    await supersedeAcross(b, a, 'roamer')
    await steady.cancel()
  }, 40_000)
})

describe('one instance loses Redis, the other keeps it', () => {
  let redis: OwnRedis
  let proxy: Proxy
  let p: Pair
  beforeAll(async () => {
    redis = await ownRedis()
    proxy = await proxyTo(redis.port)
    p = await pair('redis_split', proxy.url, redis.url)
  })
  afterAll(async () => {
    await unpair(p)
    proxy.cut()
    await redis.stop()
  })

  test('its peers send through PostgreSQL while it says so, and through Redis once it is back', async () => {
    const onA = await subscribeTo(p.a, 'cut-off')
    await ready(onA)
    expect(p.b.herald.signals.quietCommits()).toBe(true)

    proxy.cut()
    await until(() => p.logA.lines.some((line) => line.includes('Redis is unreachable')), 'A to warn', 5000)
    await until(() => !p.b.herald.signals.quietCommits(), 'B to hear that A lost Redis', 5000)
    // B itself is fine: it only heard about A.
    expect(p.logB.lines.filter((line) => line.includes('Redis'))).toEqual([expect.stringMatching(/instance \w+ cannot reach Redis/)])
    expect((await health(p.b)).signals).toBe('postgres (another instance cannot reach Redis)')
    expect(await publishNotified(p.db, p.b, 'cut-off', 'reaches A anyway')).toBe(true)
    expect((await nextAlarm(onA)).message).toBe('reaches A anyway')
    await supersedeAcross(p.a, p.b, 'split')
    await supersedeAcross(p.b, p.a, 'split')

    proxy.mend()
    await until(() => p.logA.lines.some((line) => line.includes('Redis is reachable again')), 'A to reconnect', 10_000)
    await until(() => p.b.herald.signals.quietCommits(), 'B to hear that A is back', 5000)
    expect(p.logB.lines.at(-1)).toMatch(/instance \w+ reaches Redis again/)
    expect((await health(p.b)).signals).toBe('redis')
    expect(await publishNotified(p.db, p.b, 'cut-off', 'through Redis again')).toBe(false)
    expect((await nextAlarm(onA)).message).toBe('through Redis again')
    await onA.cancel()
  }, 30_000)
})

describe('a silent network', () => {
  test('Redis that stops answering without closing is noticed by PING, and the link comes back', async () => {
    await using redis = await ownRedis()
    await using proxy = await proxyTo(redis.port)
    const log = recorder()
    await using h = await testHerald('redis_silent', { redisUrl: proxy.url, redisPrefix: 'silent:', redisPingMs: 200, log })
    expect(h.herald.signals.backend).toBe('redis')
    proxy.stall()
    await until(() => log.lines.some((line) => line.includes('did not answer a PING')), 'the PING to go unanswered', 5000)
    expect(h.herald.signals.backend).toBe('postgres (Redis unreachable)')
    expect((await scrape(h.url)).value('herald_signals_backend', { backend: 'postgres (Redis unreachable)' })).toBe(1)
    proxy.mend()
    await until(() => h.herald.signals.backend === 'redis', 'the link to come back', 10_000)
    const m = await scrape(h.url)
    expect(m.value('herald_redis_reconnects_total')).toBe(1)
    expect(m.value('herald_signals_backend', { backend: 'redis' })).toBe(1)
  })
})

describe('Redis unreachable at start', () => {
  test('Herald starts anyway, warns once, and signals through PostgreSQL', async () => {
    const closed = await ownRedis()
    await closed.stop() // a port nothing listens on
    const log = recorder()
    await using h = await testHerald('redis_never', { redisUrl: closed.url, redisPrefix: 'never:', log })
    expect(log.lines.filter((line) => line.includes('Redis is unreachable'))).toHaveLength(1)
    expect((await health(h)).signals).toBe('postgres (Redis unreachable)')
    const sub = await subscribeTo(h, 'patient')
    await ready(sub)
    await publishTo(h, 'patient', 'without Redis')
    expect((await nextAlarm(sub)).message).toBe('without Redis')
    await sub.cancel()
  })
})
