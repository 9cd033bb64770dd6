// Expiry, retention and deletion: an expired alarm is never streamed, resumed, listed or counted;
// the sweeper deletes what expired or aged out in small batches, one instance at a time; a DELETE
// is an entry in the user's ordered log that every open stream gets.
import { afterAll, beforeAll, describe, expect, test } from 'bun:test'
import postgres from 'postgres'
import { deleteExpired, deleteOlderThan, startSweeper } from '../src/store/retention'
import { nextAlarm, ready, testHerald, type TestHerald } from './helpers/herald'
import type { SseReader } from './helpers/sse'

let h: TestHerald
let writer: postgres.Sql
beforeAll(async () => {
  h = await testHerald('retention', { maxTtlSeconds: 3600 })
  writer = postgres(h.db.url, { max: 4, onnotice: () => {} })
})
afterAll(async () => {
  await writer.end()
  await h[Symbol.asyncDispose]()
})

type Badge = { unread: number; unseen: number }

async function publish(userId: string, extra: object = {}, text = 'hello') {
  const res = await h.publish({ userId, messages: { en: text }, ...extra })
  if (res.status !== 201) throw new Error(`publish: ${res.status} ${await res.text()}`)
  return (await res.json()) as { id: number; seq: number; expiresAt?: string }
}

/** An alarm written as a direct SQL writer would, with the columns given. */
async function insert(userId: string, columns: { expires_at?: string; created_at?: string } = {}, text = 'sql') {
  return writer.begin(async (tx) => {
    const [row] = await tx<{ id: string; seq: string }[]>`
      insert into alarms ${tx({ user_id: userId, ...columns })} returning id, seq`
    await tx`insert into alarm_messages (alarm_id, locale, message) values (${row!.id}, 'en', ${text})`
    return { id: Number(row!.id), seq: Number(row!.seq) }
  })
}

function remove(userId: string, id: number | string, headers: Record<string, string> = {}) {
  return fetch(`${h.url}/users/${encodeURIComponent(userId)}/alarms/${id}`, { method: 'DELETE', headers })
}

async function historyOf(userId: string) {
  const res = await fetch(`${h.url}/users/${encodeURIComponent(userId)}/alarms?status=all`)
  return (await res.json()) as { items: { id: number; expiresAt?: string }[]; badge: Badge }
}

async function badgeInSql(userId: string): Promise<Badge> {
  const [row] = await h.db.sql<Badge[]>`select unread, unseen from user_seqs where user_id = ${userId}`
  return row ?? { unread: 0, unseen: 0 }
}

async function nextOf(sub: SseReader, kind: string) {
  const event = await sub.nextEvent()
  if (event?.event !== kind) throw new Error(`expected ${kind}, got ${event?.raw ?? 'the end'}`)
  return { id: event.id, data: JSON.parse(event.data!) }
}

async function alarmsOf(userId: string): Promise<number> {
  const [row] = await h.db.sql<{ n: number }[]>`select count(*)::int as n from alarms where user_id = ${userId}`
  return row!.n
}

describe('POST /alarms with expiresAt or ttl', () => {
  test('expiresAt is stored and answered; ttl counts from the commit; the alarm event and history carry expiresAt', async () => {
    const sub = await h.subscribe('expiring', { lang: 'en' })
    await ready(sub)
    const at = new Date(Date.now() + 600_000).toISOString()
    const first = await publish('expiring', { expiresAt: at })
    expect(first.expiresAt).toBe(at)
    const before = Date.now()
    const second = await publish('expiring', { ttl: 120 })
    const expires = Date.parse(second.expiresAt!)
    expect(expires).toBeGreaterThanOrEqual(before + 119_000)
    expect(expires).toBeLessThanOrEqual(Date.now() + 121_000)
    const plain = await publish('expiring')
    expect('expiresAt' in plain).toBe(false)
    expect((await nextAlarm(sub)) as object).toMatchObject({ expiresAt: at })
    expect((await nextAlarm(sub)) as object).toMatchObject({ expiresAt: second.expiresAt })
    expect('expiresAt' in (await nextAlarm(sub))).toBe(false)
    const { items } = await historyOf('expiring')
    expect(items.map((item) => item.expiresAt)).toEqual([undefined, second.expiresAt, at])
    await sub.cancel()
  })

  test('an offset is an instant like any other: it is answered in UTC', async () => {
    const local = new Date(Date.now() + 3_600_000 - 60_000)
    const offset = new Date(local.getTime() + 9 * 3_600_000).toISOString().replace('Z', '+09:00')
    const alarm = await publish('offset', { expiresAt: offset })
    expect(alarm.expiresAt).toBe(new Date(local.getTime()).toISOString())
  })

  test('bad expiresAt or ttl → 400 INVALID_BODY naming the field, and nothing is stored', async () => {
    const soon = new Date(Date.now() + 60_000).toISOString()
    const cases: [object, string][] = [
      [{ expiresAt: soon, ttl: 60 }, 'ttl'],
      [{ expiresAt: new Date(Date.now() - 1000).toISOString() }, 'expiresAt'],
      [{ expiresAt: new Date(Date.now() + 3_700_000).toISOString() }, 'expiresAt'], // past HERALD_MAX_TTL (1 h here)
      [{ expiresAt: soon.replace('Z', '') }, 'expiresAt'], // no zone
      [{ expiresAt: '2026-02-30T10:00:00Z' }, 'expiresAt'],
      [{ expiresAt: '2026-12-01T24:00:00Z' }, 'expiresAt'],
      [{ expiresAt: 'tomorrow' }, 'expiresAt'],
      [{ expiresAt: Date.now() + 60_000 }, 'expiresAt'],
      [{ expiresAt: null }, 'expiresAt'],
      [{ ttl: 0 }, 'ttl'],
      [{ ttl: -5 }, 'ttl'],
      [{ ttl: 1.5 }, 'ttl'],
      [{ ttl: '60' }, 'ttl'],
      [{ ttl: 3601 }, 'ttl'],
      [{ ttl: 1e300 }, 'ttl'],
    ]
    for (const [extra, field] of cases) {
      const res = await h.publish({ userId: 'refused-expiry', messages: { en: 'x' }, ...extra })
      const body = await res.json()
      expect({ extra, status: res.status, code: body.error.code }).toEqual({ extra, status: 400, code: 'INVALID_BODY' })
      expect(body.error.message.startsWith(`${field}:`)).toBe(true)
    }
    expect(await alarmsOf('refused-expiry')).toBe(0)
  })

  test('a retry with the same key answers the first alarm and its expiry (a ttl is not compared)', async () => {
    const first = await publish('retried-expiry', { key: 'k1', ttl: 600 })
    const res = await h.publish({ userId: 'retried-expiry', messages: { en: 'hello' }, key: 'k1', ttl: 900 })
    expect(res.status).toBe(200)
    expect(await res.json()).toMatchObject({ id: first.id, expiresAt: first.expiresAt })
  })
})

describe('an expired alarm', () => {
  test('is not streamed, resumed, listed, marked or deleted; the sweep deletes it and the badge drops', async () => {
    const live = await publish('lapsed')
    const gone = await insert('lapsed', { expires_at: new Date(Date.now() - 1000).toISOString() })
    const last = await publish('lapsed')
    const sub = await h.subscribe('lapsed', { since: 0 })
    const { badge } = await ready(sub)
    expect(badge).toEqual({ unread: 3, unseen: 3 }) // the sweep may not have run yet: it counts until deleted
    expect((await nextAlarm(sub)).id).toBe(live.id)
    expect((await nextAlarm(sub)).id).toBe(last.id)
    expect((await historyOf('lapsed')).items.map((item) => item.id)).toEqual([last.id, live.id])
    const marked = await fetch(`${h.url}/users/lapsed/alarms/read`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ ids: [gone.id] }),
    })
    expect(marked.status).toBe(404)
    expect((await remove('lapsed', gone.id)).status).toBe(404)
    await h.herald.sweeper.turn()
    expect(await alarmsOf('lapsed')).toBe(2)
    expect(await badgeInSql('lapsed')).toEqual({ unread: 2, unseen: 2 })
    // The stream hears the badge move, and nothing in the log: the user did not delete it.
    let event = await sub.nextEvent()
    while (event?.event === 'badge' && JSON.parse(event.data!).unread !== 2) event = await sub.nextEvent()
    expect(event?.event).toBe('badge')
    expect(JSON.parse(event!.data!)).toEqual({ unread: 2, unseen: 2 })
    const after = await publish('lapsed')
    expect((await nextAlarm(sub)).id).toBe(after.id)
    await sub.cancel()
  })

  test('one published with a ttl leaves the badge moments after it expires, without a poll (the sweeper wakes for it)', async () => {
    const sub = await h.subscribe('ttl-one')
    await ready(sub)
    const alarm = await publish('ttl-one', { ttl: 1 })
    expect((await nextAlarm(sub)).id).toBe(alarm.id)
    // After the alarm: its badge (1). Then, once it expired and was swept: the badge back to 0.
    let event = await sub.nextEvent()
    while (event?.event === 'badge' && JSON.parse(event.data!).unread !== 0) event = await sub.nextEvent()
    expect(JSON.parse(event!.data!)).toEqual({ unread: 0, unseen: 0 })
    expect(Date.now()).toBeGreaterThanOrEqual(Date.parse(alarm.expiresAt!))
    expect(await alarmsOf('ttl-one')).toBe(0)
    await sub.cancel()
  })

  test('expiring while the stream is paused on backpressure, it is not sent', async () => {
    const user = 'paused-expiry'
    await writer.begin(async (tx) => {
      for (let i = 0; i < 150; i++) {
        const [a] = await tx`insert into alarms (user_id) values (${user}) returning id`
        await tx`insert into alarm_messages (alarm_id, locale, message) values (${a!.id}, 'en', ${'n' + i})`
      }
    })
    const res = await h.herald.app.handle(new Request(`http://localhost/connection/${user}?since=0&lang=en`))
    const reader = res.body!.getReader()
    await reader.read() // open frame
    await reader.read() // ready
    await reader.read() // the first alarm: its page of 100 is queued, the stream waits for room
    // While it waits, the last 50 expire (a direct writer may set expires_at).
    await writer`update alarms set expires_at = now() where user_id = ${user} and seq > 100`
    // Then a new alarm: every alarm frame up to it is what the stream sent.
    const next = await publish(user)
    const decoder = new TextDecoder()
    const ids: number[] = [1]
    let text = ''
    while (ids[ids.length - 1] !== next.seq) {
      const { value, done } = await reader.read()
      if (done) throw new Error('the stream ended')
      text += decoder.decode(value)
      const blocks = text.split('\n\n')
      text = blocks.pop()!
      for (const block of blocks) if (block.includes('event: alarm')) ids.push(Number(/^id: (\d+)$/m.exec(block)![1]))
    }
    expect(ids).toEqual([...Array.from({ length: 100 }, (_, i) => i + 1), next.seq])
    await reader.cancel()
  })
})

describe('DELETE /users/:userId/alarms/:id', () => {
  test('every open stream of the user gets `deleted` {id, seq} in the log, then the badge; history forgets it', async () => {
    const kept = await publish('deleter')
    const doomed = await publish('deleter')
    const phone = await h.subscribe('deleter', { since: 0, headers: { 'herald-device': 'phone' } })
    const laptop = await h.subscribe('deleter', { since: 0, headers: { 'herald-device': 'laptop' } })
    for (const sub of [phone, laptop]) {
      await ready(sub)
      await nextAlarm(sub)
      await nextAlarm(sub)
    }
    const res = await remove('deleter', doomed.id)
    expect(res.status).toBe(200)
    const body = await res.json()
    expect(body).toEqual({ id: doomed.id, seq: doomed.seq, badge: { unread: 1, unseen: 1 } })
    for (const sub of [phone, laptop]) {
      let event = await sub.nextEvent()
      while (event?.event === 'badge') event = await sub.nextEvent()
      expect(event?.event).toBe('deleted')
      expect(JSON.parse(event!.data!)).toEqual({ id: doomed.id, seq: doomed.seq })
      expect(Number(event!.id)).toBe(doomed.seq + 1) // its own place in the log
      expect(await nextOf(sub, 'badge')).toMatchObject({ data: { unread: 1, unseen: 1 } })
    }
    expect((await historyOf('deleter')).items.map((item) => item.id)).toEqual([kept.id])
    expect(await badgeInSql('deleter')).toEqual({ unread: 1, unseen: 1 })
    // Gone means gone: a second DELETE is a 404.
    expect((await remove('deleter', doomed.id)).status).toBe(404)
    // Resumable like alarms: a stream that saw the first alarm gets `deleted`, not the deleted alarm.
    const resumed = await h.subscribe('deleter', { headers: { 'last-event-id': String(kept.seq) } })
    await ready(resumed)
    expect(await nextOf(resumed, 'deleted')).toEqual({ id: String(doomed.seq + 1), data: { id: doomed.id, seq: doomed.seq } })
    for (const sub of [phone, laptop, resumed]) await sub.cancel()
  })

  test("another user's alarm, a malformed id, a POST → 404 / 404 / 405, and nothing is deleted", async () => {
    const theirs = await publish('owner')
    const res = await remove('intruder', theirs.id)
    expect(res.status).toBe(404)
    expect((await res.json()).error.code).toBe('ALARM_NOT_FOUND')
    for (const bad of ['abc', '0', '01', '-1', '1.5', '9'.repeat(16), '%31', "1'%20or%20'1'='1"]) {
      const refused = await remove('owner', bad)
      expect({ bad, status: refused.status }).toEqual({ bad, status: 404 })
      expect((await refused.json()).error.code).toBe('ALARM_NOT_FOUND')
    }
    const post = await fetch(`${h.url}/users/owner/alarms/${theirs.id}`, { method: 'POST' })
    expect(post.status).toBe(405)
    expect(post.headers.get('allow')).toBe('DELETE')
    expect(await alarmsOf('owner')).toBe(1)
  })

  test('a direct SQL DELETE is an entry in the log too', async () => {
    const alarm = await insert('sql-deleter')
    const sub = await h.subscribe('sql-deleter', { since: 0 })
    await ready(sub)
    expect((await nextAlarm(sub)).id).toBe(alarm.id)
    await writer`delete from alarms where id = ${alarm.id}`
    let event = await sub.nextEvent()
    while (event?.event === 'badge') event = await sub.nextEvent()
    expect(event?.event).toBe('deleted')
    expect(JSON.parse(event!.data!)).toEqual({ id: alarm.id, seq: alarm.seq })
    await sub.cancel()
  })

  test('a user whose alarms another transaction holds → 503 USER_BUSY, nothing deleted', async () => {
    await using busy = await testHerald('retention_busy', { lockTimeoutMs: 50 })
    const res = await busy.publish({ userId: 'held', messages: { en: 'x' } })
    const { id } = await res.json()
    const other = postgres(busy.db.url, { max: 1, onnotice: () => {} })
    let release!: () => void
    const held = new Promise<void>((resolve) => (release = resolve))
    let locked!: () => void
    const isLocked = new Promise<void>((resolve) => (locked = resolve))
    const holder = other.begin(async (tx) => {
      await tx`select 1 from user_seqs where user_id = 'held' for update`
      locked()
      await held
    })
    await isLocked
    const refused = await fetch(`${busy.url}/users/held/alarms/${id}`, { method: 'DELETE' })
    expect(refused.status).toBe(503)
    expect((await refused.json()).error.code).toBe('USER_BUSY')
    release()
    await holder
    await other.end()
    const [row] = await busy.db.sql<{ n: number }[]>`select count(*)::int as n from alarms where user_id = 'held'`
    expect(row!.n).toBe(1)
  })
})

describe('the retention job', () => {
  /** A schema of its own, with `old` alarms created 400 days ago and `fresh` ones now, over `users` users. */
  async function seeded(name: string, { old, fresh, users }: { old: number; fresh: number; users: number }) {
    const herald = await testHerald(name, { retentionDays: 0 }) // its own sweeper keeps everything
    await herald.db.sql.begin(async (tx) => {
      await tx`
        insert into alarms (user_id, created_at)
        select 'u' || (i % ${users}), now() - interval '400 days' from generate_series(1, ${old}) as i`
      await tx`insert into alarms (user_id) select 'u' || (i % ${users}) from generate_series(1, ${fresh}) as i`
      await tx`insert into alarm_messages (alarm_id, locale, message) select id, 'en', 'm' || id from alarms`
    })
    await herald.db.sql`
      update alarms set read_at = created_at where created_at < now() - interval '1 day' and id % 2 = 0`
    await herald.db.sql`update user_events set created_at = now() - interval '400 days'`
    return herald
  }

  test('deletes only alarms (and log events) older than HERALD_RETENTION_DAYS, in batches, while streams read', async () => {
    await using r = await seeded('retention_job', { old: 3000, fresh: 200, users: 20 })
    const subs = await Promise.all(Array.from({ length: 20 }, (_, i) => r.subscribe(`u${i}`)))
    for (const sub of subs) await ready(sub)
    const errors: unknown[] = []
    const removed = { expired: 0, retention: 0, events: 0 }
    let reported!: () => void
    const report = new Promise<void>((resolve) => (reported = resolve))
    const sweeper = startSweeper(r.db.sql, {
      retentionDays: 365,
      batch: 250,
      retentionMs: 20,
      idleMs: 20,
      onReport: (counts) => {
        for (const key of ['expired', 'retention', 'events'] as const) removed[key] += counts[key]
        if (removed.retention >= 3000) reported()
      },
      onError: (error) => errors.push(error),
    })
    // Publishing while the job deletes: every stream still gets each new alarm, once, in order.
    const published: { id: number; seq: number }[] = []
    for (let i = 0; i < 20; i++) {
      const res = await r.publish({ userId: `u${i}`, messages: { en: 'new' } })
      published.push(await res.json())
    }
    for (let i = 0; i < 20; i++) {
      const alarm = await nextAlarm(subs[i]!)
      expect(alarm.id).toBe(published[i]!.id)
    }
    await report
    await sweeper.stop()
    const [left] = await r.db.sql<{ old: number; fresh: number; events: number }[]>`
      select count(*) filter (where created_at < now() - interval '365 days')::int as old,
             count(*) filter (where created_at >= now() - interval '365 days')::int as fresh,
             (select count(*) from user_events where created_at < now() - interval '365 days')::int as events
      from alarms`
    expect(left).toEqual({ old: 0, fresh: 220, events: 0 })
    expect(removed).toMatchObject({ retention: 3000, expired: 0 })
    expect(removed.events).toBeGreaterThan(0)
    expect(errors).toEqual([])
    // The badge is still exact: it counts what is left.
    const wrong = await r.db.sql`
      select u.user_id from user_seqs u
      left join (select user_id, count(*) filter (where read_at is null and archived_at is null)::int as unread
                 from alarms group by user_id) c using (user_id)
      where u.unread <> coalesce(c.unread, 0)`
    expect(wrong.length).toBe(0)
    for (const sub of subs) await sub.cancel()
  })

  test('two instances never delete at once; between them, everything due goes exactly once', async () => {
    await using r = await seeded('retention_two', { old: 2000, fresh: 10, users: 50 })
    await r.db.sql`create table sweep_log (pid int, started timestamptz, ended timestamptz)`
    // Each delete that deletes records when its first row went and when it ended; overlapping turns would show.
    await r.db.sql.unsafe(`
      create function log_sweep_start() returns trigger language plpgsql as $$
      begin
        if not exists (select 1 from sweep_log where pid = pg_backend_pid() and ended is null) then
          insert into sweep_log values (pg_backend_pid(), clock_timestamp(), null);
          perform pg_sleep(0.005); -- a statement that takes a while: an overlap could not hide
        end if;
        return old;
      end $$;
      create function log_sweep_end() returns trigger language plpgsql as $$
      begin
        update sweep_log set ended = clock_timestamp() where pid = pg_backend_pid() and ended is null;
        return null;
      end $$;
      create trigger sweep_start before delete on alarms for each row execute function log_sweep_start();
      create trigger sweep_end after delete on alarms for each statement execute function log_sweep_end();`)
    const pools = [postgres(r.db.url, { max: 2, onnotice: () => {} }), postgres(r.db.url, { max: 2, onnotice: () => {} })]
    const deleted = [0, 0]
    let refused = 0
    // Both instances work as fast as they can until nothing old is left.
    await Promise.all(
      pools.map(async (sql, i) => {
        for (let turn = 0; turn < 2000; turn++) {
          const batch = await deleteOlderThan(sql, 365, 100)
          if (!batch.held) refused++
          deleted[i]! += batch.alarms
          if (batch.held && batch.alarms === 0) return
        }
      }),
    )
    const runs = await r.db.sql<{ started: Date; ended: Date }[]>`
      select started, ended from sweep_log where ended is not null order by started`
    expect(runs.length).toBeGreaterThanOrEqual(20) // 2000 rows in batches of 100
    for (let i = 1; i < runs.length; i++) expect(runs[i]!.started.getTime()).toBeGreaterThanOrEqual(runs[i - 1]!.ended.getTime())
    expect(deleted[0]! + deleted[1]!).toBe(2000)
    expect(refused).toBeGreaterThan(0) // they did meet, and one stood back
    const [left] = await r.db.sql<{ n: number }[]>`select count(*)::int as n from alarms`
    expect(left!.n).toBe(10)
    await Promise.all(pools.map((sql) => sql.end()))
  })

  test('a sweep held by another instance deletes nothing; a busy user waits for the next turn', async () => {
    await using r = await testHerald('retention_lock', { retentionDays: 0 })
    // Herald's own sweeper has made its first turn and sleeps (nothing expires, no stream reads):
    // the deletes below are this test's alone.
    await r.herald.sweeper.turn()
    await r.db.sql.begin(async (tx) => {
      await tx`insert into alarms (user_id, expires_at) values ('a', now() - interval '1 s'), ('b', now() - interval '1 s')`
      await tx`insert into alarm_messages (alarm_id, locale, message) select id, 'en', 'x' from alarms`
    })
    const other = postgres(r.db.url, { max: 1, onnotice: () => {} })
    /** Runs `lock` in a transaction of `other` and keeps it open until the returned release is called. */
    async function holding(lock: (tx: postgres.TransactionSql) => Promise<unknown>) {
      let release!: () => void
      const done = new Promise<void>((resolve) => (release = resolve))
      let locked!: () => void
      const isLocked = new Promise<void>((resolve) => (locked = resolve))
      const tx = other.begin(async (tx) => {
        await lock(tx)
        locked()
        await done
      })
      await isLocked
      return async () => {
        release()
        await tx
      }
    }
    const sweepHeld = await holding((tx) => tx`select pg_advisory_xact_lock(${0x48455241}, hashtext(current_schema()))`)
    expect(await deleteExpired(r.db.sql)).toMatchObject({ held: false, alarms: 0 })
    await sweepHeld()
    // Now a writer holds user a's counter row: a's alarm waits, b's goes.
    const userHeld = await holding((tx) => tx`select 1 from user_seqs where user_id = 'a' for update`)
    expect(await deleteExpired(r.db.sql)).toMatchObject({ held: true, alarms: 1, due: 2 })
    await userHeld()
    expect(await deleteExpired(r.db.sql)).toMatchObject({ held: true, alarms: 1, due: 1 })
    await other.end()
  })

  test("an idle sweeper sends no statement; once alarms are read it looks within idleMs and finds a direct writer's expiry", async () => {
    await using r = await testHerald('retention_idle', { retentionDays: 0 })
    let statements = 0
    let heard: (() => void) | undefined
    const sql = postgres(r.db.url, {
      max: 1,
      onnotice: () => {},
      debug: () => {
        statements++
        heard?.()
      },
    })
    const nextStatement = () => new Promise<void>((resolve) => (heard = resolve))
    let removed!: (count: number) => void
    const swept = new Promise<number>((resolve) => (removed = resolve))
    const errors: unknown[] = []
    const sweeper = startSweeper(sql, {
      retentionDays: 0,
      idleMs: 20,
      onRemoved: (_reason, count) => removed(count),
      onError: (error) => errors.push(error),
    })
    await sweeper.turn() // the first turn (at start) and this one: nothing is expiring
    const before = statements
    expect(before).toBeGreaterThan(0)
    // A direct writer's expired alarm is not announced to the sweeper: it stays asleep.
    await r.db.sql.begin(async (tx) => {
      const [row] = await tx<{ id: string }[]>`insert into alarms (user_id, expires_at) values ('idle', now() - interval '1 s') returning id`
      await tx`insert into alarm_messages (alarm_id, locale, message) values (${row!.id}, 'en', 'x')`
    })
    await Bun.sleep(300) // fifteen idleMs: an observation window for what must not happen, not a wait for an event
    expect(statements).toBe(before)
    const looked = nextStatement()
    sweeper.touched() // a stream read alarms
    await looked
    expect(await swept).toBe(1)
    await sweeper.stop()
    await sql.end()
    expect(errors).toEqual([])
  })
})
