// The retention benchmark phase (issue 16): how fast the retention job's batches delete alarms older
// than HERALD_RETENTION_DAYS while streams are open and reading new alarms, and what that does to
// their delivery. The batches are the job's own statements (src/store/retention.ts), run from here
// back to back, as the job runs them when a backlog is due; the Herald under test keeps its own job
// off (HERALD_RETENTION_DAYS=0) so the two never meet. Bounded in count and time.
import type postgres from 'postgres'
import { deleteOlderThan, SWEEP_BATCH } from '../src/store/retention'
import type { LoadWorker, PhaseDeps, StartedHerald } from './phase'
import { percentiles } from './report'

export type RetentionBench = {
  /** Streams open (users r0…), reading while the job deletes. */
  streams: number
  /** Alarms older than the retention, spread over those users. */
  oldAlarms: number
  /** New alarms published to the streams' users while the job deletes, per second. */
  deliveryRate: number
  /** Rows per batch (the job's is SWEEP_BATCH). */
  batch?: number
}

export type RetentionDeps<W extends LoadWorker> = PhaseDeps<W> & {
  /** A Herald on this database with these extra environment variables. */
  startHerald(url: string, env: Record<string, string>): Promise<Pick<StartedHerald, 'port' | 'stop'>>
  connect(url: string): postgres.Sql
}

const RETENTION_DAYS = 365
/** The longest the deleting may take before the phase gives up (a stuck database must not hang the run). */
const DELETE_LIMIT_MS = 300_000
const SEED_CHUNK = 50_000

export async function measureRetention<W extends LoadWorker>(options: RetentionBench, deps: RetentionDeps<W>): Promise<Record<string, number>> {
  const url = await deps.freshDatabase('herald_bench_retention')
  const sql = deps.connect(url)
  const m: Record<string, number> = {}
  let herald: Pick<StartedHerald, 'port' | 'stop'> | undefined
  try {
    await seed(sql, options)
    herald = await deps.startHerald(url, { HERALD_RETENTION_DAYS: '0' })
    const port = herald.port
    await Promise.all(
      deps.workers.map((worker, w) => {
        const users = Array.from({ length: options.streams }, (_, i) => `r${i}`).filter((_, i) => i % deps.workers.length === w)
        return deps.ask(worker, { type: 'open', users, port, localAddress: `127.70.${w}.2`, lang: 'ko' }, 'opened')
      }),
    )
    const collect = async () => (await Promise.all(deps.workers.map((w) => deps.ask(w, { type: 'collect' }, 'receipts')))).flatMap((r) => r.receipts)
    await collect() // nothing before this point counts

    // The job's batches back to back, while new alarms reach the streams.
    const sent = new Map<number, number>()
    let deleting = true
    const publishing = (async () => {
      const started = performance.now()
      for (let i = 0; deleting && i < options.deliveryRate * (DELETE_LIMIT_MS / 1000); i++) {
        const wait = started + (i * 1000) / options.deliveryRate - performance.now()
        if (wait > 0) await Bun.sleep(wait)
        const at = performance.timeOrigin + performance.now()
        const [row] = await sql<{ id: string }[]>`
          with a as (insert into alarms (user_id) values (${`r${i % options.streams}`}) returning id)
          insert into alarm_messages (alarm_id, locale, message) select id, 'ko', '새 알림' from a returning alarm_id as id`
        sent.set(Number(row!.id), at)
      }
    })()
    const started = performance.now()
    let deleted = 0
    let batches = 0
    const size = options.batch ?? SWEEP_BATCH
    const maxBatches = Math.ceil(options.oldAlarms / size) * 4 + 10
    while (batches < maxBatches && performance.now() - started < DELETE_LIMIT_MS) {
      const batch = await deleteOlderThan(sql, RETENTION_DAYS, size)
      batches++
      deleted += batch.alarms
      if (batch.held && batch.due < size) break
    }
    const ms = performance.now() - started
    deleting = false
    await publishing
    deps.log(`retention: ${deleted} alarms in ${batches} batches, ${Math.round(ms)} ms, ${sent.size} new alarms published meanwhile`)

    // Every new alarm must arrive, once, while the old ones went.
    const arrived = new Map<number, number>()
    const deadline = performance.now() + 30_000
    while (arrived.size < sent.size && performance.now() < deadline) {
      const receipts = await collect()
      for (let i = 0; i < receipts.length; i += 2) if (sent.has(receipts[i]!)) arrived.set(receipts[i]!, receipts[i + 1]!)
      if (arrived.size < sent.size) await Bun.sleep(100)
    }
    const [left] = await sql<{ n: number }[]>`select count(*)::int as n from alarms where created_at < now() - make_interval(days => ${RETENTION_DAYS})`
    const p = percentiles([...arrived].map(([id, t]) => t - sent.get(id)!))
    Object.assign(m, {
      retention_streams: options.streams,
      retention_rows: deleted,
      retention_left: left!.n,
      retention_rows_per_s: (deleted / ms) * 1000,
      retention_delivery_p50_ms: p.p50,
      retention_delivery_p99_ms: p.p99,
      retention_delivery_lost: sent.size - arrived.size,
    })
    await Promise.all(deps.workers.map((worker) => deps.ask(worker, { type: 'close' }, 'closed')))
  } finally {
    await herald?.stop()
    await sql.end()
  }
  return m
}

/** Old alarms for the streams' users, each with one text, in chunks (one transaction each). */
async function seed(sql: postgres.Sql, { streams, oldAlarms }: RetentionBench) {
  for (let from = 1; from <= oldAlarms; from += SEED_CHUNK) {
    const to = Math.min(oldAlarms, from + SEED_CHUNK - 1)
    await sql.begin(async (tx) => {
      await tx`
        with a as (
          -- A year-old alarm is mostly read and seen: one in ten still counts in its user's badge.
          insert into alarms (user_id, created_at, read_at, seen_at)
          select 'r' || (i % ${streams}), now() - interval '400 days',
                 case when i % 10 <> 0 then now() - interval '399 days' end, case when i % 10 <> 0 then now() - interval '399 days' end
          from generate_series(${from}::int, ${to}::int) as i
          returning id
        )
        insert into alarm_messages (alarm_id, locale, message) select id, 'ko', '오래된 알림' from a`
    })
  }
  await sql`analyze alarms`
}
