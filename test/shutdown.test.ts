// SIGTERM on a real process: streams are told when to come back, publishes in flight finish.
import { afterAll, beforeAll, expect, test } from 'bun:test'
import postgres from 'postgres'
import { testDb, type TestDb } from './helpers/db'
import { ready } from './helpers/herald'
import { startEntry } from './helpers/process'
import { readSse } from './helpers/sse'

let db: TestDb
beforeAll(async () => {
  db = await testDb('shutdown')
})
afterAll(async () => {
  await db[Symbol.asyncDispose]()
})

async function startProcess(env: Record<string, string> = {}) {
  const started = await startEntry('src/cli/main.ts', { env: { ...process.env, DATABASE_URL: db.url, PORT: '0', HOST: '127.0.0.1', ...env } })
  return { proc: started.proc, url: started.url, output: started.finished }
}

test('SIGTERM: streams get a jittered retry, an in-flight publish completes, exit 0 in time', async () => {
  const { proc, url, output } = await startProcess({ HERALD_SHUTDOWN_MS: '4000' })
  const blocker = postgres(db.url, { max: 1, onnotice: () => {} })
  try {
    const sub = readSse(await fetch(`${url}/connection/leaving?lang=ko`))
    await ready(sub)
    const publish = (body: object) =>
      fetch(`${url}/alarms`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) })
    expect((await publish({ userId: 'held', messages: { ko: 'first' } })).status).toBe(201)
    // Hold the user's seq row, so the next publish is in flight when SIGTERM comes.
    const held = Promise.withResolvers<void>()
    const locked = Promise.withResolvers<void>()
    const holding = blocker.begin(async (tx) => {
      await tx`select * from user_seqs where user_id = 'held' for update`
      locked.resolve()
      await held.promise
    })
    await locked.promise
    const inFlight = publish({ userId: 'held', messages: { ko: 'in flight' } })
    // Herald's pool waiting on a lock is the publish (its statement's text is past the 1 KiB that
    // pg_stat_activity keeps, so it is found by its application name, not its text).
    const waiting = postgres(db.url, { max: 1 })
    for (let i = 0; ; i++) {
      const [row] = await waiting`select count(*)::int as n from pg_stat_activity where wait_event_type = 'Lock' and application_name like 'herald%' and datname = current_database()`
      if (row!.n > 0) break
      if (i > 1000) throw new Error('the publish never reached the database')
    }
    await waiting.end()
    const started = performance.now()
    proc.kill('SIGTERM')
    const last = await sub.next()
    expect(last?.retry).toBeGreaterThanOrEqual(1000)
    expect(last?.retry).toBeLessThan(5000)
    expect(last?.comments).toContain('shutting down')
    expect(await sub.ended()).toEqual([])
    held.resolve()
    await holding
    const res = await inFlight
    expect(res.status).toBe(201)
    expect((await res.json()).seq).toBe(2)
    expect(await proc.exited).toBe(0)
    expect(performance.now() - started).toBeLessThan(4000)
    expect(await output()).toContain('herald: stopped')
  } finally {
    proc.kill('SIGKILL')
    await blocker.end()
  }
})

test('SIGTERM with a publish stuck on a lock: done within HERALD_SHUTDOWN_MS, the publish answered 503 and rolled back', async () => {
  // The lock wait alone (60 s) would outlast the shutdown limit many times over.
  const { proc, url, output } = await startProcess({ HERALD_SHUTDOWN_MS: '1500', HERALD_LOCK_TIMEOUT_MS: '60000' })
  const blocker = postgres(db.url, { max: 1, onnotice: () => {} })
  const held = Promise.withResolvers<void>()
  let holding: Promise<unknown> = Promise.resolve()
  try {
    const publish = () =>
      fetch(`${url}/alarms`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ userId: 'stuck-at-exit', messages: { ko: 'x' } }) })
    expect((await publish()).status).toBe(201)
    const locked = Promise.withResolvers<void>()
    holding = blocker.begin(async (tx) => {
      await tx`select * from user_seqs where user_id = 'stuck-at-exit' for update`
      locked.resolve()
      await held.promise
    })
    await locked.promise
    const inFlight = publish()
    // Herald's pool waiting on a lock is the publish (its statement's text is past the 1 KiB that
    // pg_stat_activity keeps, so it is found by its application name, not its text).
    const waiting = postgres(db.url, { max: 1 })
    for (let i = 0; ; i++) {
      const [row] = await waiting`select count(*)::int as n from pg_stat_activity where wait_event_type = 'Lock' and application_name like 'herald%' and datname = current_database()`
      if (row!.n > 0) break
      if (i > 1000) throw new Error('the publish never reached the database')
    }
    await waiting.end()
    const started = performance.now()
    proc.kill('SIGTERM')
    const res = await inFlight
    expect(res.status).toBe(503)
    expect((await res.json()).error.code).toBe('UNAVAILABLE')
    expect(await proc.exited).toBe(0)
    expect(performance.now() - started).toBeLessThan(1500 + 500) // the limit, and the process's own exit
    expect(await output()).toContain('herald: stopped')
    held.resolve()
    await holding
    // Rolled back, not committed once the lock came free: the first alarm is the user's only one.
    const [row] = await blocker`select count(*)::int as n from alarms where user_id = 'stuck-at-exit'`
    expect(row!.n).toBe(1)
  } finally {
    held.resolve()
    await holding.catch(() => {})
    proc.kill('SIGKILL')
    await blocker.end()
  }
})

/** Resolves once one of Herald's pool connections waits on a lock (found by application name). */
async function heraldWaitsOnLock() {
  const waiting = postgres(db.url, { max: 1 })
  try {
    for (let i = 0; ; i++) {
      const [row] = await waiting`select count(*)::int as n from pg_stat_activity where wait_event_type = 'Lock' and application_name like 'herald%' and datname = current_database()`
      if (row!.n > 0) return
      if (i > 1000) throw new Error('Herald never waited on the lock')
    }
  } finally {
    await waiting.end()
  }
}

test('SIGTERM while many streams are leaving presence: one error at most, not one per stream', async () => {
  const { proc, url, output } = await startProcess({ HERALD_SHUTDOWN_MS: '1500' })
  const blocker = postgres(db.url, { max: 1, onnotice: () => {} })
  const held = Promise.withResolvers<void>()
  let holding: Promise<unknown> = Promise.resolve()
  try {
    const subs = await Promise.all(Array.from({ length: 40 }, (_, i) => fetch(`${url}/connection/leaving-${i}`).then(readSse)))
    await Promise.all(subs.map(ready))
    // Presence is locked: the streams' leaving (one batched delete) waits, as a burst of
    // disconnects does while the database is busy, and the shutdown's pool end cuts it.
    const locked = Promise.withResolvers<void>()
    holding = blocker.begin(async (tx) => {
      await tx`lock table presence in exclusive mode`
      locked.resolve()
      await held.promise
    })
    await locked.promise
    await Promise.all(subs.map((sub) => sub.cancel()))
    await heraldWaitsOnLock()
    proc.kill('SIGTERM')
    expect(await proc.exited).toBe(0)
    const out = await output()
    expect(out).toContain('herald: stopped')
    // One error at most: the instance's own presence rows could not be forgotten (peers drop them
    // after two heartbeats). Before, every stream of the cut batch reported it: 40 errors.
    const errors = out.split('\n').filter((line) => line.includes('Error:'))
    expect(errors.length).toBeLessThanOrEqual(1)
  } finally {
    held.resolve()
    await holding.catch(() => {})
    proc.kill('SIGKILL')
    await blocker.end()
  }
})

test('production without auth refuses to start, naming the variable', async () => {
  const proc = Bun.spawn([process.execPath, 'src/cli/main.ts'], {
    cwd: new URL('..', import.meta.url).pathname,
    env: { ...process.env, DATABASE_URL: db.url, PORT: '0', NODE_ENV: 'production' },
    stderr: 'pipe',
  })
  expect(await proc.exited).toBe(1)
  expect(await new Response(proc.stderr).text()).toContain('HERALD_JWT_SECRET')
})
