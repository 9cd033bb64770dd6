// Publishing many alarms at once, all or nothing: a batch (POST /alarms/batch: any users, a key
// per alarm) and a fan-out (POST /alarms with userIds: one alarm per user, one key for all). One
// transaction of a few statements, whatever the count:
//
//  1. the users' counter rows (user_seqs), locked in user order, and created for users who have
//     none yet: the order every writer takes them in (insertAlarms, the triggers of sql/006 and
//     sql/010), so a bulk publish and any other writer never deadlock. The wait for rows other
//     transactions hold is bounded (HERALD_LOCK_TIMEOUT_MS in all, the time queued here counted),
//     then USER_BUSY with nothing stored;
//  2. with keys, the alarms that already hold them: exact now, because no writer of these users
//     can commit until this transaction ends;
//  3. the new alarms and their texts, in one statement (bulk-insert.ts);
//
// then the wake-ups: the triggers' NOTIFY at commit (one per user), or after a quiet commit the
// signals' announce, as the publisher does. Bulk transactions run a few at a time (`maxInFlight`):
// each holds a pool connection for its length, and the pool is shared with every stream's reads.
import { Errors } from '../errors'
import { catchUpAlarmIds, type NewAlarm, type PublishedAlarm } from './alarms'
import { insertHeld } from './bulk-insert'
import type { Sql } from './db'
import type { Announcer, Published } from './publisher'
import { createInFlight } from './in-flight'

/**
 * What a `key` means: `each` — every alarm's own (a batch): a key its user already holds with the
 * same alarm answers that alarm, with another alarm it is a conflict; `whole` — one key for all
 * (a fan-out): every user holds it with the same alarm (a retry: all answered, nothing stored),
 * or none does (all stored); anything else is a conflict.
 */
export type Idempotency = 'each' | 'whole'

export type BulkConflict =
  /** `alarms[index]`'s user holds its key with a different alarm. */
  | { kind: 'different'; index: number }
  /** `whole`: `alarms[holder]`'s user holds the key (with this alarm), `alarms[missing]`'s does not. */
  | { kind: 'partial'; holder: number; missing: number }

export type BulkResult = { published: Published[] } | { conflict: BulkConflict }

export type BulkPublisher = {
  /** Stores every alarm or none; answers in input order. The store's errors are HeraldErrors (USER_BUSY, UNAVAILABLE…). */
  publish(alarms: NewAlarm[], idempotency: Idempotency): Promise<BulkResult>
  /** Resolves once every bulk publish under way has been answered. */
  settled(): Promise<void>
  /** Shutdown: refuses new ones and cancels the statements running (their transactions roll back). */
  cancel(): void
}

export type BulkOptions = {
  /** The longest a bulk publish waits in all for its users' rows (and its turn here), then USER_BUSY. */
  lockTimeoutMs?: number
  /** Bulk transactions at once. */
  maxInFlight?: number
  /** Where wake-ups go: without it, the NOTIFY of every commit. */
  signals?: Announcer
}

const LOCK_NOT_AVAILABLE = '55P03'
const QUERY_CANCELED = '57014'
const UNIQUE_VIOLATION = '23505'
const FOREIGN_KEY_VIOLATION = '23503'

type Query = { cancel(): void }
type Found = { alarm: PublishedAlarm; same: boolean }

/** Thrown inside the transaction to roll it back; answered as a conflict. */
class Conflicted {
  constructor(readonly conflict: BulkConflict) {}
}

export function createBulkPublisher(sql: Sql, { lockTimeoutMs = 5000, maxInFlight = 3, signals }: BulkOptions = {}): BulkPublisher {
  const inFlight = createInFlight()
  const turns = createTurns(maxInFlight)
  const track = inFlight.track

  async function publish(alarms: NewAlarm[], idempotency: Idempotency): Promise<BulkResult> {
    if (inFlight.canceled) throw Errors.unavailable('Herald is shutting down; retry')
    const deadline = performance.now() + lockTimeoutMs
    if (!(await turns.enter(deadline))) throw Errors.userBusy(lockTimeoutMs)
    try {
      if (inFlight.canceled) throw Errors.unavailable('Herald is shutting down; nothing was stored; retry')
      return await attempt(alarms, idempotency, deadline)
    } finally {
      turns.leave()
    }
  }

  async function attempt(alarms: NewAlarm[], idempotency: Idempotency, deadline: number, again = true): Promise<BulkResult> {
    const late = { value: false }
    try {
      return await commit(alarms, idempotency, deadline, late)
    } catch (error) {
      if (error instanceof Conflicted) return { conflict: error.conflict }
      // A direct writer's explicit id collided with the sequence: caught up once, as the publisher does.
      if (again && !inFlight.canceled && isIdCollision(error)) {
        await catchUpAlarmIds(sql)
        return attempt(alarms, idempotency, deadline, false)
      }
      throw explain(error, alarms, late.value)
    }
  }

  async function commit(alarms: NewAlarm[], idempotency: Idempotency, deadline: number, late: { value: boolean }): Promise<BulkResult> {
    const quiet = signals?.quietCommits() ?? false
    const published = await sql.begin(async (tx) => {
      // A transaction runs its statements like the pool does; insertAlarms takes either.
      const inTx = tx as unknown as Sql
      await lockUsers(inTx, alarms, deadline, late)
      const found = alarms.some((alarm) => alarm.key !== undefined) ? await findKeyed(inTx, alarms) : new Map<number, Found>()
      const fresh = decide(alarms, found, idempotency)
      const inserted = fresh.length ? await insertHeld(inTx, fresh.map((i) => alarms[i]!), { quiet, track }) : []
      const stored = new Map<number, PublishedAlarm>()
      inserted.forEach((one, k) => {
        // Not under these locks: a key is only taken by a writer holding its user's row.
        if (!one) throw new Conflicted({ kind: 'different', index: fresh[k]! })
        stored.set(fresh[k]!, one)
      })
      return alarms.map((_, i): Published => {
        const repeat = found.get(i)
        return repeat ? { alarm: repeat.alarm, created: false } : { alarm: stored.get(i)!, created: true }
      })
    })
    if (quiet) {
      const woken = new Set(published.flatMap(({ alarm, created }) => (created ? [alarm.userId] : [])))
      if (woken.size) await signals!.announce([...woken])
    }
    return { published }
  }

  /**
   * Step 1: every user's counter row, in user order: created (last_seq 0, the trigger then counts
   * from it) or locked without a change (`do update … where false` locks the row it finds). JIT
   * is off for the transaction: the planner's guess for thousands of unnested rows passes its
   * threshold, and compiling costs more than the statements themselves. The wait is bounded twice:
   * each lock by lock_timeout, and all of them together by cancelling the statement at the deadline.
   */
  async function lockUsers(tx: Sql, alarms: NewAlarm[], deadline: number, late: { value: boolean }) {
    const users = [...new Set(alarms.map((alarm) => alarm.userId))]
    const left = Math.floor(deadline - performance.now())
    if (left <= 0) throw Errors.userBusy(lockTimeoutMs) // its turn came too late
    const query = tx`
      insert into user_seqs as u (user_id, last_seq)
      select user_id, 0
      from unnest(${users}::text[]) as t(user_id),
           (select set_config('lock_timeout', ${left + 'ms'}, true), set_config('jit', 'off', true)) as settings
      order by user_id
      on conflict (user_id) do update set last_seq = u.last_seq where false`
    const untrack = track(query)
    const timer = setTimeout(() => {
      late.value = true
      query.cancel()
    }, left)
    try {
      await query
    } finally {
      clearTimeout(timer)
      untrack()
    }
  }

  function explain(error: unknown, alarms: NewAlarm[], late: boolean): unknown {
    const { code, detail } = error as { code?: string; detail?: string }
    if (code === LOCK_NOT_AVAILABLE || (code === QUERY_CANCELED && late && !inFlight.canceled)) return Errors.userBusy(lockTimeoutMs)
    if (code === QUERY_CANCELED && inFlight.canceled) return Errors.unavailable('Herald is shutting down; nothing was stored; retry')
    // Checked before, so only a template deleted (by SQL) since then gets here: refused at commit.
    if (code === FOREIGN_KEY_VIOLATION) {
      const key = /\(template_key\)=\((.*)\)/.exec(detail ?? '')?.[1] ?? alarms.find((alarm) => alarm.template)?.template?.key
      if (key !== undefined) return Errors.unknownTemplate(key)
    }
    return error
  }

  return {
    publish: (alarms, idempotency) => inFlight.follow(publish(alarms, idempotency)),
    settled: inFlight.settled,
    cancel: inFlight.cancel,
  }
}

/**
 * Step 2's verdict: the indexes to insert, or a conflict (thrown, so the transaction rolls back).
 * The expiry is not compared, as for one alarm: a ttl retried later names a later instant.
 */
function decide(alarms: NewAlarm[], found: Map<number, Found>, idempotency: Idempotency): number[] {
  const different = first(found, (entry) => !entry.same)
  if (different !== undefined) throw new Conflicted({ kind: 'different', index: different })
  if (idempotency === 'whole' && found.size > 0 && found.size < alarms.length) {
    const missing = alarms.findIndex((_, i) => !found.has(i))
    throw new Conflicted({ kind: 'partial', holder: first(found, () => true)!, missing })
  }
  return alarms.flatMap((_, i) => (found.has(i) ? [] : [i]))
}

/** The smallest index whose entry passes `test`. */
function first(found: Map<number, Found>, test: (entry: Found) => boolean): number | undefined {
  let best: number | undefined
  for (const [index, entry] of found) if (test(entry) && (best === undefined || index < best)) best = index
  return best
}

/**
 * The alarms that already hold the keys of these (by input index), and whether each is the same
 * alarm: the same data, and the same texts, or the same template with the same params.
 */
async function findKeyed(sql: Sql, alarms: NewAlarm[]): Promise<Map<number, Found>> {
  const indexes: number[] = []
  const users: string[] = []
  const keys: string[] = []
  const datas: string[] = []
  const messages: string[] = []
  const templates: (string | null)[] = []
  const params: (string | null)[] = []
  alarms.forEach((alarm, i) => {
    if (alarm.key === undefined) return
    indexes.push(i)
    users.push(alarm.userId)
    keys.push(alarm.key)
    datas.push(JSON.stringify(alarm.data))
    messages.push(JSON.stringify(alarm.messages ?? {}))
    templates.push(alarm.template?.key ?? null)
    params.push(alarm.template ? JSON.stringify(alarm.template.params) : null)
  })
  const rows = await sql<
    { i: string; id: string; seq: string; created_at: Date; expires_at: Date | null; locales: string[]; same: boolean }[]
  >`
    select k.i, a.id, a.seq, a.created_at, a.expires_at,
           array(select locale from alarm_messages where alarm_id = a.id order by locale) as locales,
           a.data = k.data::jsonb
             and coalesce((select jsonb_object_agg(locale, message) from alarm_messages where alarm_id = a.id), '{}') = k.messages::jsonb
             and a.template_key is not distinct from k.template_key
             and a.params is not distinct from k.params::jsonb as same
    from unnest(${indexes}::int4[], ${users}::text[], ${keys}::text[], ${datas}::text[], ${messages}::text[],
                ${templates}::text[], ${params}::text[]) as k(i, user_id, key, data, messages, template_key, params)
    join alarms a on a.user_id = k.user_id and a.idempotency_key = k.key`
  return new Map(
    rows.map((row): [number, Found] => [
      Number(row.i),
      {
        same: row.same,
        alarm: {
          id: Number(row.id),
          userId: alarms[Number(row.i)]!.userId,
          seq: Number(row.seq),
          locales: row.locales,
          createdAt: row.created_at.toISOString(),
          ...(row.expires_at ? { expiresAt: row.expires_at.toISOString() } : {}),
        },
      },
    ]),
  )
}

/**
 * At most `max` at once; the others wait in order, each until its deadline (then `enter` resolves
 * false and it has left the line).
 */
function createTurns(max: number) {
  let active = 0
  const line: { go(): void }[] = []
  return {
    async enter(deadline: number): Promise<boolean> {
      if (active < max) {
        active++
        return true
      }
      return new Promise<boolean>((resolve) => {
        const waiter = {
          go() {
            clearTimeout(timer)
            active++
            resolve(true)
          },
        }
        const timer = setTimeout(() => {
          line.splice(line.indexOf(waiter), 1)
          resolve(false)
        }, Math.max(0, deadline - performance.now()))
        line.push(waiter)
      })
    },
    leave() {
      active--
      line.shift()?.go()
    },
  }
}

function isIdCollision(error: unknown): boolean {
  const { code, constraint_name } = error as { code?: string; constraint_name?: string }
  return code === UNIQUE_VIOLATION && constraint_name === 'alarms_pkey'
}
