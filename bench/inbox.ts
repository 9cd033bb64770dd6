// The inbox's benchmark phase (issue 13): a history page with a large table (1,000,000 alarms in
// the full run), mark-all-read of 10,000 unread alarms, and marks per second through the API.
// Bounded in count and time; every process it starts is stopped.
import type postgres from 'postgres'
import { percentiles } from './report'

export type InboxBench = {
  /** Alarms in the table for the history rows. */
  alarms: number
  /** Spread over this many users (so a page is a slice of one user's). */
  users: number
  historyRequests: number
  markSeconds: number
  markConcurrency: number
}

type Started = { port: number; stop(): Promise<void> }

export type InboxDeps = {
  /** A fresh, migrated database; returns its URL. */
  freshDatabase(name: string): Promise<string>
  startHerald(url: string): Promise<Started>
  connect(url: string): postgres.Sql
  log(...parts: unknown[]): void
}

export async function measureInbox(options: InboxBench, deps: InboxDeps): Promise<Record<string, number | string>> {
  const url = await deps.freshDatabase('herald_bench_inbox')
  const sql = deps.connect(url)
  const m: Record<string, number | string> = { alarms: options.alarms }
  try {
    const loaded = performance.now()
    await load(sql, options.alarms, options.users)
    deps.log(`inbox: ${options.alarms.toLocaleString('en-US')} alarms over ${options.users} users loaded in ${Math.round(performance.now() - loaded)} ms`)
    await loadUnread(sql, 'heavy-reader', 10_000)
    await sql`analyze`
    const herald = await deps.startHerald(url)
    try {
      const base = `http://127.0.0.1:${herald.port}`
      Object.assign(m, await historyLatency(base, options))
      m.mark_all_read_ms = await markAllRead(base, 'heavy-reader')
      const [{ unread }] = (await sql`select unread from user_seqs where user_id = 'heavy-reader'`) as unknown as [{ unread: number }]
      m.mark_all_read_left = unread
      Object.assign(m, await marksPerSecond(base, sql, options))
    } finally {
      await herald.stop()
    }
  } finally {
    await sql.end()
  }
  return m
}

/**
 * `alarms` alarms over `users` users, each with two texts, loaded in a few statements. The triggers
 * are off for the load (session_replication_role = replica: the benchmark's superuser only); the
 * seqs and the counter rows (badge included) are written as the triggers would have.
 */
async function load(sql: postgres.Sql, alarms: number, users: number) {
  const chunk = 200_000
  await sql.begin(async (tx) => {
    await tx`set local session_replication_role = replica`
    for (let from = 0; from < alarms; from += chunk) {
      const to = Math.min(alarms, from + chunk) - 1
      await tx`
        insert into alarms (user_id, seq, data, created_at, read_at)
        select 'h' || (i % ${users}), i / ${users} + 1, '{}'::jsonb, now() - make_interval(secs => ${alarms} - i),
               case when i % 3 = 0 then now() end
        from generate_series(${from}::int, ${to}::int) i`
    }
    await tx`
      insert into alarm_messages (alarm_id, locale, message)
      select id, l, l || ' alarm ' || seq from alarms, unnest(array['en', 'ko']) l`
    await tx`
      insert into user_seqs (user_id, last_seq, unread, unseen)
      select user_id, max(seq), count(*) filter (where read_at is null), count(*) from alarms group by user_id`
    await tx`select setval(pg_get_serial_sequence('alarms', 'id'), (select max(id) from alarms))`
  })
}

/** One user with `n` unread alarms, through the triggers (one statement). */
async function loadUnread(sql: postgres.Sql, user: string, n: number) {
  await sql`
    with a as (insert into alarms (user_id) select ${user} from generate_series(1, ${n}) returning id)
    insert into alarm_messages (alarm_id, locale, message) select id, 'en', 'unread' from a`
}

/** GET /users/:u/alarms at random users, pages and statuses, a few at a time. */
async function historyLatency(base: string, { users, historyRequests }: InboxBench) {
  const samples: number[] = []
  const unread: number[] = []
  const queries = ['?limit=20', '?limit=20&status=unread', '?limit=20&status=all&before=50', '?limit=100&lang=ko']
  let i = 0
  const worker = async () => {
    while (i < historyRequests) {
      const n = i++
      const query = queries[n % queries.length]!
      const started = performance.now()
      const res = await fetch(`${base}/users/h${Math.floor(Math.random() * users)}/alarms${query}`)
      if (res.status !== 200) throw new Error(`history: ${res.status} ${await res.text()}`)
      await res.arrayBuffer()
      const ms = performance.now() - started
      samples.push(ms)
      if (query.includes('unread')) unread.push(ms)
    }
  }
  await Promise.all(Array.from({ length: 4 }, worker))
  const all = percentiles(samples)
  const onlyUnread = percentiles(unread)
  return { history_p50_ms: all.p50, history_p99_ms: all.p99, history_unread_p99_ms: onlyUnread.p99 }
}

async function markAllRead(base: string, user: string): Promise<number> {
  const started = performance.now()
  const res = await fetch(`${base}/users/${user}/alarms/read`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: '{"all":true}',
  })
  const ms = performance.now() - started
  const body = (await res.json()) as { changed: number }
  if (res.status !== 200 || body.changed !== 10_000) throw new Error(`mark all read: ${res.status} ${JSON.stringify(body)}`)
  return ms
}

/** Read, then unread, one alarm at a time, from `markConcurrency` clients, for `markSeconds`. */
async function marksPerSecond(base: string, sql: postgres.Sql, { users, markSeconds, markConcurrency }: InboxBench) {
  const targets = (await sql`select user_id, id from alarms where user_id like 'h%' and seq = 1 limit ${Math.min(users, 2000)}`).map(
    (row) => ({ user: row.user_id as string, id: Number(row.id) }),
  )
  let ok = 0
  let failed = 0
  const until = performance.now() + markSeconds * 1000
  const started = performance.now()
  await Promise.all(
    Array.from({ length: markConcurrency }, async (_, c) => {
      for (let k = c; performance.now() < until; k += markConcurrency) {
        const { user, id } = targets[k % targets.length]!
        const kind = Math.floor(k / targets.length) % 2 === 0 ? 'read' : 'unread'
        const res = await fetch(`${base}/users/${user}/alarms/${kind}`, {
          method: 'POST',
          headers: { 'content-type': 'application/json' },
          body: JSON.stringify({ ids: [id] }),
        })
        await res.arrayBuffer()
        if (res.status === 200) ok++
        else failed++
      }
    }),
  )
  return { marks_per_s: (ok / (performance.now() - started)) * 1000, marks_failed: failed }
}
