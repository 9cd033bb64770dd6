// What leaves the database by itself: alarms past their expiry (moments after it) and, with
// HERALD_RETENTION_DAYS, alarms and log events older than that. In small batches, each its own
// short statement (no long lock, no table rewrite, VACUUM reuses the space), and on one instance
// at a time: every batch takes a transaction-level advisory lock, and an instance that cannot get
// it leaves the turn to the one that has it.
import type postgres from 'postgres'
import type { Sql } from './db'
import type { RemovalReason } from '../metrics'

/** Rows one statement deletes at most: a few milliseconds of locks, whatever is due. */
export const SWEEP_BATCH = 1000

/**
 * What one batch did; `held: false` when another instance was sweeping (nothing was deleted).
 * `due`: the rows it found due (at most the limit: a full batch means there may be more); more due
 * than deleted means some users' rows were busy. `nextMs`: from now until the next alarm expires,
 * by the database's clock (expiry batches only).
 */
export type Batch = { held: boolean; alarms: number; events: number; due: number; nextMs?: number | null }

/**
 * The sweep's lock, one per schema (a test's schema, a tenant's): the two-key advisory lock space,
 * with Herald's own first key so it never meets an application's one-key locks.
 */
const LOCK_SPACE = 0x4845_5241 // 'HERA'

/**
 * Deletes up to `limit` alarms whose `expires_at` has passed. The users' counter rows are locked
 * first, in user order, as every writer of a user locks them (a mark, a publish, a DELETE), so the
 * sweep never deadlocks with one; a user whose row another transaction holds waits for the next
 * turn instead of stalling it. `herald.sweep` tells the delete trigger (sql/010) that this is not
 * the user's doing: the badge moves, no `deleted` entry is written.
 */
export async function deleteExpired(sql: Sql, limit = SWEEP_BATCH): Promise<Batch> {
  const [row] = await sql<{ held: boolean; n: number; due: number; next_ms: number | null }[]>`
    with ${sweepOf(sql, sql`expires_at <= now()`, sql`order by expires_at`, limit)}
    select (select held from lock) as held, (select count(*) from gone)::int as n, (select count(*) from doomed)::int as due,
           (select extract(epoch from min(expires_at) - now()) * 1000 from alarms where expires_at > now())::float8 as next_ms`
  return { held: row!.held, alarms: row!.n, events: 0, due: row!.due, nextMs: row!.next_ms }
}

/** Deletes up to `limit` alarms, and as many log events, older than `days`; as deleteExpired. */
export async function deleteOlderThan(sql: Sql, days: number, limit = SWEEP_BATCH): Promise<Batch> {
  const old = sql`created_at < now() - make_interval(days => ${days})`
  const batch = await deleteAlarmsWhere(sql, old, sql``, limit)
  if (!batch.held) return batch
  const [row] = await sql<{ held: boolean; n: number }[]>`
    with lock as materialized (select ${lockHeld(sql)} as held),
    gone as (
      -- By row address: events are never updated, and a TID look-up is the cheapest delete there is.
      delete from user_events
      where ctid = any(array(select ctid from user_events where ${old} and (select held from lock) limit ${limit}))
      returning 1
    )
    select (select held from lock) as held, (select count(*) from gone)::int as n`
  // Events hold no lock anyone waits for: a full batch of them is as "due" as one of alarms.
  return { held: batch.held && row!.held, alarms: batch.alarms, events: row!.n, due: Math.max(batch.due, row!.n) }
}

/** A piece of a statement, spliced into another. */
type Fragment = postgres.PendingQuery<postgres.Row[]>

function lockHeld(sql: Sql) {
  return sql`pg_try_advisory_xact_lock(${LOCK_SPACE}, hashtext(current_schema()))`
}

async function deleteAlarmsWhere(sql: Sql, due: Fragment, order: Fragment, limit: number): Promise<Batch> {
  const [row] = await sql<{ held: boolean; n: number; due: number }[]>`
    with ${sweepOf(sql, due, order, limit)}
    select (select held from lock) as held, (select count(*) from gone)::int as n, (select count(*) from doomed)::int as due`
  return { held: row!.held, alarms: row!.n, events: 0, due: row!.due }
}

/** The common part of both sweeps: the lock, what is due, the users' rows, the delete (`gone`). */
function sweepOf(sql: Sql, due: Fragment, order: Fragment, limit: number): Fragment {
  return sql`
    lock as materialized (
      select ${lockHeld(sql)} as held, set_config('herald.sweep', 'on', true)
    ), doomed as materialized (
      select id, user_id from alarms where ${due} and (select held from lock) ${order} limit ${limit}
    ), mine as materialized (
      select user_id from user_seqs
      where user_id in (select user_id from doomed)
      order by user_id
      for update skip locked
    ), gone as (
      -- An array, not IN (subquery): the planner would hash-join the whole table against the batch.
      delete from alarms
      where id = any(array(select id from doomed where user_id in (select user_id from mine)))
      returning 1
    )`
}

/** A wake-up for an expiry comes this much after it, so the database's clock agrees it has passed. */
const CLOCK_SLACK_MS = 5

export type SweeperOptions = {
  /** Days an alarm is kept; 0 = forever (only expiry deletes). */
  retentionDays: number
  /**
   * How soon after alarms were read (touched()) the sweeper looks for expiries it was not told of
   * (a direct writer's), and how often it logs what it removed.
   */
  idleMs?: number
  /** How often it deletes what is older than `retentionDays`: days are the unit, an hour is on time. */
  retentionMs?: number
  /** How soon it tries again when another instance holds the sweep, or a user's row was busy. */
  retryMs?: number
  /** Batches one turn deletes at most, so a backlog is worked off in steps that leave room for other work. */
  maxBatches?: number
  batch?: number
  /** Told what was removed, once per `idleMs` when anything was. */
  onReport?: (removed: { expired: number; retention: number; events: number }) => void
  onRemoved?: (reason: RemovalReason, count: number) => void
  onError: (error: unknown) => void
}

export type Sweeper = {
  /** An alarm was stored that expires at this instant (ISO 8601): the sweeper wakes for it. */
  expiring(at: string): void
  /**
   * Alarms were read (a stream fetched): a direct writer may have stored one that expires, so the
   * sweeper looks within `idleMs`. Cheap enough to call on every fetch.
   */
  touched(): void
  /** Runs one turn now (tests): expiry, then retention when it is due. */
  turn(): Promise<void>
  stop(): Promise<void>
}

/**
 * The background job. It sleeps until the next expiry it knows of (the database's, read after
 * every turn, and the ones this instance stores, told through expiring()), or `idleMs` after
 * streams last read alarms (touched(): a direct writer's expiry is found within a minute of its
 * alarm being read), and at most `retentionMs`. So an idle Herald sends no sweep statement (but the
 * hourly one), a busy one one a minute, and an expired alarm leaves the badge within milliseconds
 * of its expiry. Never two turns at once; stop() waits for the one running.
 */
export function startSweeper(sql: Sql, options: SweeperOptions): Sweeper {
  const { retentionDays, idleMs = 60_000, retentionMs = 3_600_000, retryMs = 1000, maxBatches = 100, batch = SWEEP_BATCH } = options
  let stopped = false
  let timer: ReturnType<typeof setTimeout> | undefined
  let wakeAt = Infinity
  let running: Promise<void> = Promise.resolve()
  let retentionDue = 0 // at once: a Herald started after a long pause catches up
  let reportDue = Date.now() + idleMs
  const pending = { expired: 0, retention: 0, events: 0 }

  /**
   * Batches until one finds less than a batch due (or the lock is elsewhere): what is due now is
   * gone, but for users another transaction held (`left`).
   */
  async function drain(step: () => Promise<Batch>): Promise<Batch & { left: boolean }> {
    const total = { held: true, alarms: 0, events: 0, due: 0, left: false, nextMs: undefined as number | null | undefined }
    for (let i = 0; i < maxBatches && !stopped; i++) {
      const done = await step()
      total.alarms += done.alarms
      total.events += done.events
      total.held = done.held
      total.nextMs = done.nextMs
      total.left = done.due >= batch || done.due > done.alarms + done.events
      if (!done.held || done.due < batch) break
    }
    return total
  }

  /** One turn; answers how long to sleep after it. */
  async function work(): Promise<number> {
    let sleep = retentionMs
    const expired = await drain(() => deleteExpired(sql, batch))
    pending.expired += expired.alarms
    if (expired.alarms > 0) options.onRemoved?.('expired', expired.alarms)
    if (!expired.held || expired.left) sleep = retryMs
    else if (expired.nextMs != null) sleep = Math.min(sleep, Math.max(0, expired.nextMs) + CLOCK_SLACK_MS)
    if (retentionDays > 0 && Date.now() >= retentionDue) {
      const aged = await drain(() => deleteOlderThan(sql, retentionDays, batch))
      retentionDue = Date.now() + (aged.held && !aged.left ? retentionMs : retryMs)
      pending.retention += aged.alarms
      pending.events += aged.events
      if (aged.alarms > 0) options.onRemoved?.('retention', aged.alarms)
    }
    if (retentionDays > 0) sleep = Math.min(sleep, Math.max(0, retentionDue - Date.now()))
    if (Date.now() >= reportDue) {
      reportDue = Date.now() + idleMs
      if (pending.expired + pending.retention + pending.events > 0) options.onReport?.({ ...pending })
      pending.expired = pending.retention = pending.events = 0
    }
    // What was removed is logged on time, even if nothing else is due by then.
    if (pending.expired + pending.retention + pending.events > 0) sleep = Math.min(sleep, Math.max(0, reportDue - Date.now()))
    return sleep
  }

  function turn(): Promise<void> {
    clearTimeout(timer)
    wakeAt = Infinity
    running = running.then(async () => {
      if (stopped) return
      const sleep = await work().catch((error) => {
        options.onError(error)
        return retryMs // the database may be back by then
      })
      schedule(sleep)
    })
    return running
  }

  /** Wakes in `ms`, unless a wake-up is already due sooner. */
  function schedule(ms: number) {
    const at = Date.now() + ms
    if (stopped || at >= wakeAt) return
    clearTimeout(timer)
    wakeAt = at
    timer = setTimeout(() => void turn(), ms)
    timer.unref?.()
  }

  schedule(0)
  return {
    expiring: (at) => schedule(Math.max(0, Date.parse(at) - Date.now()) + CLOCK_SLACK_MS),
    touched: () => schedule(idleMs),
    turn,
    async stop() {
      stopped = true
      clearTimeout(timer)
      await running
    },
  }
}
