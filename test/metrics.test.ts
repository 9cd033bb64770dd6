// GET /metrics: what each figure counts, on a real Herald and PostgreSQL; who may read it; and the
// recorders' rules (bounded labels, the lag of live alarms only) on the metrics object itself.
import { describe, expect, test } from 'bun:test'
import { SignJWT } from 'jose'
import { ConfigError, readConfig } from '../src/config'
import { createMetrics, languageOf, NO_METRICS } from '../src/metrics'
import { nextAlarm, ready, testHerald, until, type TestHerald } from './helpers/herald'
import { parseMetrics, scrape } from './helpers/metrics'

const SECRET = 'metrics-test-secret-at-least-32-bytes!'

async function publish(h: TestHerald, body: unknown, headers: Record<string, string> = {}) {
  return fetch(`${h.url}/alarms`, { method: 'POST', headers: { 'content-type': 'application/json', ...headers }, body: JSON.stringify(body) })
}

describe('streams', () => {
  test('the open gauge counts by negotiated locale, and returns to zero as streams end', async () => {
    await using h = await testHerald('metrics_streams', { locales: ['ko', 'en'] })
    const ko = await h.subscribe('s1', { lang: 'ko' })
    const en = await h.subscribe('s2', { headers: { 'accept-language': 'en-GB' } })
    const unknown = await h.subscribe('s3', { lang: 'tlh' }) // no such language here: the default, en
    for (const sub of [ko, en, unknown]) await ready(sub)
    let m = await scrape(h.url)
    expect(m.value('herald_streams_open', { locale: 'ko' })).toBe(1)
    expect(m.value('herald_streams_open', { locale: 'en' })).toBe(2)
    expect(m.value('herald_stream_opens_total')).toBe(3)
    expect(m.value('herald_frames_sent_total', { event: 'ready' })).toBe(3)
    for (const sub of [ko, en, unknown]) sub.abort()
    await until(() => h.herald.live.size === 0, 'every stream to end')
    m = await scrape(h.url)
    expect(m.sum('herald_streams_open')).toBe(0)
    expect(m.value('herald_stream_ends_total', { reason: 'closed' })).toBe(3)
  })

  test('ends by reason: superseded, expired, shutdown; each with its last frame', async () => {
    await using h = await testHerald('metrics_ends', { jwtSecret: SECRET, heartbeatMs: 40 })
    const token = (userId: string, seconds: number) =>
      new SignJWT({}).setProtectedHeader({ alg: 'HS256' }).setSubject(userId).setExpirationTime(Math.floor(Date.now() / 1000) + seconds).sign(new TextEncoder().encode(SECRET))
    const auth = async (userId: string, seconds = 300) => ({ headers: { authorization: `Bearer ${await token(userId, seconds)}` } })
    const older = await h.subscribe('e1', await auth('e1'))
    await ready(older)
    const newer = await h.subscribe('e1', await auth('e1'))
    await ready(newer)
    expect((await older.nextEvent())?.event).toBe('superseded')
    const expiring = await h.subscribe('e2', await auth('e2', 1))
    await ready(expiring)
    expect((await expiring.nextEvent())?.event).toBe('expired')
    // A heartbeat the test sees, so the count below has one to show.
    let beat = false
    for (let i = 0; i < 100 && !beat; i++) beat = (await newer.next())?.comments.includes('heartbeat') ?? false
    expect(beat).toBe(true)
    void h.herald.drain([1, 2])
    expect(await newer.ended()).toBeDefined()
    const m = await scrape(h.url)
    for (const reason of ['superseded', 'expired', 'shutdown']) {
      expect(m.value('herald_stream_ends_total', { reason })).toBe(1)
      expect(m.value('herald_frames_sent_total', { event: reason })).toBe(1)
    }
    expect(m.value('herald_frames_sent_total', { event: 'heartbeat' })).toBeGreaterThan(0)
    expect(m.sum('herald_streams_open')).toBe(0)
  })

  test('refusals by reason: a reconnect too fast, a publish too fast, a full process', async () => {
    await using h = await testHerald('metrics_refusals', { reconnectBurst: 1, publishRate: 1, maxStreams: 2 })
    const first = await h.subscribe('r1')
    await ready(first)
    expect((await h.subscribe('r1')).response.status).toBe(429)
    const other = await h.subscribe('r2')
    await ready(other)
    expect((await h.subscribe('r3')).response.status).toBe(503)
    expect((await h.publish({ userId: 'r1', messages: { en: 'one' } })).status).toBe(201)
    expect((await h.publish({ userId: 'r1', messages: { en: 'two' } })).status).toBe(429)
    const m = await scrape(h.url)
    expect(m.value('herald_refusals_total', { reason: 'reconnect_rate' })).toBe(1)
    expect(m.value('herald_refusals_total', { reason: 'publish_rate' })).toBe(1)
    expect(m.value('herald_refusals_total', { reason: 'max_streams' })).toBe(1)
    await first.cancel()
    await other.cancel()
  })
})

describe('alarms', () => {
  test('published by path: api counts what it stored (a repeated key is not stored), sql counts committed direct writes once', async () => {
    await using h = await testHerald('metrics_paths')
    expect((await h.publish({ userId: 'p', messages: { en: 'a' }, key: 'k' })).status).toBe(201)
    expect((await h.publish({ userId: 'p', messages: { en: 'a' }, key: 'k' })).status).toBe(200)
    expect((await h.publish({ userId: 'p', messages: { en: 'b' } })).status).toBe(201)
    // Three alarms in one statement, one in a transaction of two statements, one rolled back.
    await h.db.sql`
      with a as (insert into alarms (user_id) select 'p' || i from generate_series(1, 3) i returning id)
      insert into alarm_messages (alarm_id, locale, message) select id, 'en', 'direct' from a`
    await h.db.sql.begin(async (tx) => {
      const [{ id }] = (await tx`insert into alarms (user_id) values ('q') returning id`) as unknown as [{ id: string }]
      await tx`insert into alarm_messages (alarm_id, locale, message) values (${id}, 'en', 'direct')`
    })
    await expect(
      h.db.sql.begin(async (tx) => {
        await tx`insert into alarms (user_id) values ('q')` // no text: refused at commit
      }),
    ).rejects.toMatchObject({ code: '23514' })
    let m = await scrape(h.url)
    expect(m.value('herald_alarms_published_total', { path: 'api' })).toBe(2)
    expect(m.value('herald_alarms_published_total', { path: 'sql' })).toBe(4)
    m = await scrape(h.url) // claimed: a second scrape finds nothing new
    expect(m.value('herald_alarms_published_total', { path: 'sql' })).toBe(4)
    expect((await h.db.sql`select count(*)::int as n from sql_alarm_counts`)[0]!.n).toBe(0)
  })

  test('a direct writer still in its transaction is counted at the first scrape after it commits', async () => {
    await using h = await testHerald('metrics_open_tx')
    const { promise: holding, resolve: hold } = Promise.withResolvers<void>()
    const { promise: release, resolve: commit } = Promise.withResolvers<void>()
    const writer = h.db.sql.begin(async (tx) => {
      const [{ id }] = (await tx`insert into alarms (user_id) values ('w') returning id`) as unknown as [{ id: string }]
      await tx`insert into alarm_messages (alarm_id, locale, message) values (${id}, 'en', 'late')`
      hold()
      await release
    })
    await holding
    expect((await scrape(h.url)).value('herald_alarms_published_total', { path: 'sql' })).toBe(0)
    commit()
    await writer
    expect((await scrape(h.url)).value('herald_alarms_published_total', { path: 'sql' })).toBe(1)
  })

  test('frames by event, the delivery lag, the fallback and the batch sizes', async () => {
    await using h = await testHerald('metrics_delivery')
    await publish(h, { userId: 'seed', messages: { 'zh-Hans': '种子', 'en-US': 'seed' } }) // the languages exist
    const subs = await Promise.all(['zh-TW', 'en-GB', 'zh-CN'].map((lang, i) => h.subscribe(`d${i}`, { lang })))
    for (const sub of subs) await ready(sub)
    // One statement for all three: one woken batch.
    await h.db.sql`
      with a as (insert into alarms (user_id) select 'd' || i from generate_series(0, 2) i returning id)
      insert into alarm_messages (alarm_id, locale, message) select id, l, 'x' from a, unnest(array['zh-Hans', 'en-US']) l`
    for (const sub of subs) await nextAlarm(sub)
    const m = await scrape(h.url)
    expect(m.value('herald_frames_sent_total', { event: 'alarm' })).toBe(3)
    expect(m.value('herald_delivery_lag_seconds_count')).toBe(3)
    expect(m.value('herald_delivery_lag_seconds_bucket', { le: '+Inf' })).toBe(3)
    // zh-TW asked for traditional Chinese, which nothing has (best fit does not take simplified for
    // it): it got the default, English. en-GB got en-US, its language; zh-CN got what it asked.
    expect(m.all('herald_locale_fallback_total')).toEqual([{ name: 'herald_locale_fallback_total', labels: { requested: 'zh-Hant', served: 'en' }, value: 1 }])
    expect(m.sum('herald_fetch_batch_size_sum', { query: 'alarms' })).toBeGreaterThanOrEqual(3)
    expect(m.value('herald_fetch_batch_size_count', { query: 'alarms' })).toBeLessThan(4)
    expect(m.value('herald_commit_batch_size_count', { lane: 'fast' })).toBe(1)
    for (const sub of subs) await sub.cancel()
  })

  test('publishes that arrive together share a commit; the duration is by status', async () => {
    await using h = await testHerald('metrics_publish')
    const statuses = await Promise.all(Array.from({ length: 20 }, (_, i) => publish(h, { userId: `b${i}`, messages: { en: 'x' } }).then((r) => r.status)))
    expect(statuses.every((s) => s === 201)).toBe(true)
    expect((await publish(h, { userId: 'b', messages: {} })).status).toBe(400)
    expect((await fetch(`${h.url}/alarms`, { method: 'POST', headers: { 'content-type': 'text/plain' }, body: 'x' })).status).toBe(415)
    const m = await scrape(h.url)
    expect(m.value('herald_commit_batch_size_sum', { lane: 'fast' })).toBe(20)
    expect(m.value('herald_commit_batch_size_count', { lane: 'fast' })!).toBeLessThan(20)
    expect(m.value('herald_publish_duration_seconds_count', { status: '201' })).toBe(20)
    expect(m.value('herald_publish_duration_seconds_count', { status: '400' })).toBe(1)
    expect(m.value('herald_publish_duration_seconds_count', { status: '415' })).toBe(1)
    expect(m.value('herald_alarms_published_total', { path: 'api' })).toBe(20)
  })
})

describe('the process and its dependencies', () => {
  test('the pool in use, the database, the signals backend, the build, the process', async () => {
    await using h = await testHerald('metrics_process')
    // A publish waits for a user's row that a transaction of the test holds: one pool connection in use.
    await h.publish({ userId: 'held', messages: { en: 'first' } })
    const { promise: locked, resolve: lockedNow } = Promise.withResolvers<void>()
    const { promise: release, resolve: unlock } = Promise.withResolvers<void>()
    const holder = h.db.sql.begin(async (tx) => {
      await tx`select * from user_seqs where user_id = 'held' for update`
      lockedNow()
      await release
    })
    await locked
    const waiting = h.publish({ userId: 'held', messages: { en: 'second' } })
    let inUse = 0
    for (let i = 0; i < 200 && inUse < 1; i++) inUse = (await scrape(h.url)).value('herald_db_pool_connections', { state: 'in_use' })!
    expect(inUse).toBeGreaterThanOrEqual(1)
    unlock()
    await holder
    expect((await waiting).status).toBe(201)
    const m = await scrape(h.url)
    expect(m.value('herald_db_pool_max')).toBe(10)
    expect(m.value('herald_db_pool_connections', { state: 'in_use' })! + m.value('herald_db_pool_connections', { state: 'idle' })!).toBeLessThanOrEqual(10)
    expect(m.value('herald_database_up')).toBe(1)
    expect(m.value('herald_signals_backend', { backend: 'postgres' })).toBe(1)
    expect(m.sum('herald_signals_backend')).toBe(1)
    expect(m.value('herald_redis_reconnects_total')).toBe(0)
    expect(m.all('herald_build_info')[0]!.labels.bun).toBe(Bun.version)
    expect(m.value('process_resident_memory_bytes')!).toBeGreaterThan(1024 * 1024)
    expect(m.value('process_cpu_seconds_total')!).toBeGreaterThan(0)
    expect(m.value('process_max_fds')!).toBeGreaterThan(0)
    expect(m.value('nodejs_heap_size_used_bytes')!).toBeGreaterThan(0)
    // What reads zero or nonsense on Bun is not there.
    for (const absent of ['nodejs_heap_space_size_total_bytes', 'nodejs_active_handles_total', 'process_virtual_memory_bytes', 'process_open_fds'])
      expect(m.all(absent)).toEqual([])
    expect(m.types.get('herald_delivery_lag_seconds')).toBe('histogram')
    expect(m.types.get('herald_streams_open')).toBe('gauge')
  })

  test('a scrape while PostgreSQL does not answer still answers, with herald_database_up 0, and says why in the log', async () => {
    const metrics = createMetrics({ available: { list: [] }, defaultLocale: 'en', databaseTimeoutMs: 50 })
    const errors: unknown[] = []
    metrics.watch({ backend: () => 'postgres', database: () => new Promise(() => {}), poolMax: 10, onError: (e) => errors.push(e) })
    expect(parseMetrics(await metrics.render()).value('herald_database_up')).toBe(0)
    metrics.watch({ backend: () => 'redis', database: () => Promise.reject(new Error('ECONNREFUSED')), poolMax: 10, onError: (e) => errors.push(e) })
    const m = parseMetrics(await metrics.render())
    expect(m.value('herald_database_up')).toBe(0)
    expect(m.value('herald_signals_backend', { backend: 'redis' })).toBe(1)
    expect(m.value('herald_signals_backend', { backend: 'postgres' })).toBe(0)
    expect(errors.map((e) => (e as Error).message)).toEqual(['PostgreSQL did not answer the scrape in 50 ms', 'ECONNREFUSED'])
  })
})

describe('the recorders', () => {
  const row = (locales: string[], createdAt = new Date().toISOString()) => ({ locales, createdAt })

  test('the lag counts alarms written after the stream opened, not the catch-up of a resumed one', async () => {
    const metrics = createMetrics({ available: { list: ['en'] }, defaultLocale: 'en' })
    const openedAt = Date.now()
    metrics.delivered(row(['en'], new Date(openedAt - 60_000).toISOString()), ['en'], 'en', openedAt)
    metrics.delivered(row(['en'], new Date(openedAt + 1).toISOString()), ['en'], 'en', openedAt)
    const m = parseMetrics(await metrics.render())
    expect(m.value('herald_delivery_lag_seconds_count')).toBe(1)
    expect(m.value('herald_frames_sent_total', { event: 'alarm' })).toBe(2)
  })

  test('fallback labels are languages, at most 100 of each, the rest other', async () => {
    const metrics = createMetrics({ available: { list: ['en'] }, defaultLocale: 'en' })
    const tags = languages(150)
    for (const tag of tags) metrics.delivered(row(['en']), [tag], tag, 0)
    const m = parseMetrics(await metrics.render())
    const requested = new Set(m.all('herald_locale_fallback_total').map((s) => s.labels.requested))
    expect(requested.size).toBe(101)
    expect(requested.has('other')).toBe(true)
    expect(m.sum('herald_locale_fallback_total')).toBe(150)
    expect(new Set(m.all('herald_locale_fallback_total').map((s) => s.labels.served))).toEqual(new Set(['en']))
  })

  test('the open gauge labels a locale that is neither available nor the default as other, and takes it back under the same label', async () => {
    const available = { list: ['ko'] as readonly string[] }
    const metrics = createMetrics({ available, defaultLocale: 'en' })
    metrics.opened('xx')
    available.list = ['ko', 'xx'] // learned later: the stream opened under `other` closes under it
    metrics.closed('xx')
    metrics.opened('ko')
    const m = parseMetrics(await metrics.render())
    expect(m.value('herald_streams_open', { locale: 'other' })).toBe(0)
    expect(m.value('herald_streams_open', { locale: 'ko' })).toBe(1)
  })

  test('a language is its language subtag, with the script only where it is not the usual one', () => {
    expect(['en-GB', 'en-US', 'en'].map(languageOf)).toEqual(['en', 'en', 'en'])
    expect(['zh-TW', 'zh-Hant', 'zh-CN', 'zh-Hans', 'ja-JP', 'sr-Latn'].map(languageOf)).toEqual(['zh-Hant', 'zh-Hant', 'zh', 'zh', 'ja', 'sr-Latn'])
  })

  test('with HERALD_METRICS=off nothing is recorded and there is no route', async () => {
    await using h = await testHerald('metrics_off', { metricsMode: 'off' })
    expect(h.herald.metrics).toBe(NO_METRICS)
    const res = await fetch(`${h.url}/metrics`)
    expect(res.status).toBe(404)
    expect((await res.json()).error.code).toBe('NOT_FOUND')
  })
})

describe('who may read /metrics', () => {
  const TOKEN = 'metrics-token-0123456789'

  test('in development it is open', async () => {
    await using h = await testHerald('metrics_dev')
    const res = await fetch(`${h.url}/metrics`)
    expect(res.status).toBe(200)
    expect(res.headers.get('content-type')).toContain('text/plain')
    expect(res.headers.get('cache-control')).toBe('no-store')
  })

  test('with a token, only a Bearer of that token reads it; anyone else gets 401 UNAUTHORIZED', async () => {
    await using h = await testHerald('metrics_token', { metricsToken: TOKEN })
    for (const headers of [{}, { authorization: 'Bearer wrong-token-0123456789' }, { authorization: `Basic ${TOKEN}` }] as Record<string, string>[]) {
      const res = await fetch(`${h.url}/metrics`, { headers })
      expect(res.status).toBe(401)
      expect(res.headers.get('www-authenticate')).toContain('Bearer')
      expect((await res.json()).error.code).toBe('UNAUTHORIZED')
    }
    expect((await fetch(`${h.url}/metrics`, { headers: { authorization: `Bearer ${TOKEN}` } })).status).toBe(200)
  })

  test('in production without a token it is locked, naming what opens it; HERALD_METRICS=public opens it on purpose', async () => {
    await using locked = await testHerald('metrics_prod', { production: true })
    const res = await fetch(`${locked.url}/metrics`)
    expect(res.status).toBe(401)
    const body = await res.json()
    expect(body.error.code).toBe('UNAUTHORIZED')
    expect(body.error.message).toContain('HERALD_METRICS_TOKEN')
    await using open = await testHerald('metrics_public', { production: true, metricsMode: 'public' })
    expect((await fetch(`${open.url}/metrics`)).status).toBe(200)
  })

  test.each([
    [{ HERALD_METRICS: 'maybe' }, 'HERALD_METRICS'],
    [{ HERALD_METRICS: 'public', HERALD_METRICS_TOKEN: TOKEN }, 'HERALD_METRICS'],
    [{ HERALD_METRICS: 'off', HERALD_METRICS_TOKEN: TOKEN }, 'HERALD_METRICS'],
    [{ HERALD_METRICS_TOKEN: 'short' }, 'HERALD_METRICS_TOKEN'],
    [{ HERALD_METRICS_TOKEN: 'has a space in it, long' }, 'HERALD_METRICS_TOKEN'],
  ])('configuration %j is refused, naming %s', (env, variable) => {
    let error: unknown
    try {
      readConfig(env)
    } catch (e) {
      error = e
    }
    expect(error).toBeInstanceOf(ConfigError)
    expect((error as ConfigError).variable).toBe(variable)
  })

  test('the configuration reads on, public and off', () => {
    expect(readConfig({}).metricsMode).toBe('on')
    expect(readConfig({ HERALD_METRICS: 'PUBLIC' }).metricsMode).toBe('public')
    expect(readConfig({ HERALD_METRICS: '0' }).metricsMode).toBe('off')
    expect(readConfig({ HERALD_METRICS_TOKEN: TOKEN }).metricsToken).toBe(TOKEN)
  })
})

/** `count` distinct languages Intl knows, none of them English. */
function languages(count: number): string[] {
  const out = new Set<string>()
  const names = new Intl.DisplayNames(['en'], { type: 'language', fallback: 'none' })
  for (let a = 97; a < 123 && out.size < count; a++)
    for (let b = 97; b < 123 && out.size < count; b++) {
      const tag = String.fromCharCode(a, b)
      if (tag !== 'en' && names.of(tag) !== undefined && languageOf(tag) === tag) out.add(tag)
    }
  return [...out]
}
