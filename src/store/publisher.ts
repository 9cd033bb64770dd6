// Publishing: publishes that arrive together share one statement and one commit (group commit in
// the application), because a commit waits for the disk and the disk, not the CPU, bounds a
// lone publish. An alarm that fails in a batch is retried alone, so one bad alarm fails only itself.
//
// Two lanes. The fast lane never waits for a user's counter row: two of its batches never carry
// one user at once (the batcher keeps them apart), and a user whose row another transaction holds
// (another instance's batch, a direct writer) is left out of the batch. Such an alarm tries the
// fast lane again a few times (another instance's commit takes milliseconds), then goes to the
// slow lane, which waits for the row — a bounded time, on few connections — so one stuck user
// cannot hold the fast lane's statements and stall everybody else's publishes.
import { createBatcher, type BatchStats } from '../batcher'
import { Errors } from '../errors'
import { catchUpAlarmIds, findByKey, insertAlarms, type Committed, type Inserted, type NewAlarm, type PublishedAlarm } from './alarms'
import type { Sql } from './db'
import { createInFlight } from './in-flight'

export type Published = { alarm: PublishedAlarm; created: boolean }

export type Publisher = {
  /** Stores the alarm; with a `key`, a repeat returns the first (`created: false`) or is a conflict. */
  publish(alarm: NewAlarm): Promise<Published>
  /** Resolves once every publish under way has been answered: shutdown waits for them. */
  settled(): Promise<void>
  /**
   * Shutdown's last resort: refuses new publishes and cancels the statements still running (they
   * roll back), so every publish under way ends now — stored and answered, or refused with 503.
   */
  cancel(): void
  readonly stats: BatchStats
}

/** Another way to wake streams than the commit's NOTIFY (the signals, when Redis carries them). */
export type Announcer = {
  /** Whether this commit may skip its NOTIFY. */
  quietCommits(): boolean
  /** After a quiet commit: wakes these users' streams everywhere. Never rejects. */
  announce(userIds: string[]): Promise<void>
}

export type PublisherOptions = {
  maxBatch?: number
  maxInFlight?: number
  /** How long a publish may wait for its user's counter row before it fails with 503 USER_BUSY. */
  lockTimeoutMs?: number
  /** Slow-lane statements at once: each may hold a pool connection while it waits. */
  maxWaiting?: number
  /** Where wake-ups go: without it, the NOTIFY of every commit. */
  signals?: Announcer
  /** Told the size of every statement's batch, by lane. */
  onBatch?: (lane: 'fast' | 'slow', size: number) => void
  /**
   * Told of the fast lane's text alarms as soon as they are committed, before any wake-up: this
   * process's own streams can show them without a fetch (the wake-ups still go out, for everyone).
   */
  onCommitted?: (alarms: Committed[]) => void
}

type Outcome = { inserted: Inserted } | { error: unknown }
type CommitOptions = { skipBusy: boolean; lockTimeoutMs: number }

const LOCK_NOT_AVAILABLE = '55P03'
/**
 * The fast lane's longest lock wait. Rows of known users another transaction holds are skipped
 * without waiting; what is left is a user's first alarm racing another transaction's first alarm
 * of the same user (an index entry not yet committed), normally a commit's few milliseconds.
 */
const FAST_LOCK_WAIT_MS = 100
/** A busy user's alarm tries the fast lane again after these pauses, before it waits in the slow lane. */
const FAST_RETRY_MS = [2, 8, 32]
const QUERY_CANCELED = '57014'
const UNIQUE_VIOLATION = '23505'
const FOREIGN_KEY_VIOLATION = '23503'

export function createPublisher(
  sql: Sql,
  { maxBatch = 500, maxInFlight = 4, lockTimeoutMs = 5000, maxWaiting = 2, signals, onBatch, onCommitted }: PublisherOptions = {},
): Publisher {
  const stats: BatchStats = { queries: 0, requests: 0 }
  const inFlight = createInFlight()
  const track = inFlight.track

  /** Commits, then wakes the users' streams: by the commit's own NOTIFY, or through `signals`. */
  async function commit(alarms: NewAlarm[], options: CommitOptions): Promise<Inserted[]> {
    const quiet = signals?.quietCommits() ?? false
    const inserted = await insertAlarms(sql, alarms, { ...options, quiet, track, committed: onCommitted })
    if (quiet) {
      const woken = new Set(inserted.flatMap((one) => (typeof one === 'object' ? [one.userId] : [])))
      await signals!.announce([...woken])
    }
    return inserted
  }

  /** One alarm alone. A direct writer's explicit id that collides with the sequence is caught up once. */
  async function attempt(alarm: NewAlarm, options: CommitOptions, again = true): Promise<Outcome> {
    try {
      return { inserted: (await commit([alarm], options))[0]! }
    } catch (error) {
      if (!again || inFlight.canceled || !isIdCollision(error)) return { error }
      await catchUpAlarmIds(sql)
      return attempt(alarm, options, false)
    }
  }

  const fast = createBatcher<NewAlarm, Outcome>(
    async (batch) => {
      const options = { skipBusy: true, lockTimeoutMs: Math.min(FAST_LOCK_WAIT_MS, lockTimeoutMs) }
      try {
        return (await commit(batch, options)).map((inserted) => ({ inserted }))
      } catch (error) {
        // Alone, each alarm fails only for itself: a stuck first alarm goes on to the slow lane.
        if (inFlight.canceled || (batch.length === 1 && !isIdCollision(error))) return batch.map(() => ({ error }))
        return Promise.all(batch.map((alarm) => attempt(alarm, options)))
      }
    },
    // Eager: a publish that finds no statement running commits at once, without waiting a turn.
    { maxBatch, maxInFlight, stats, eager: true, keyOf: (alarm) => alarm.userId, onBatch: onBatch && ((size) => onBatch('fast', size)) },
  )

  // The slow lane: one statement per alarm, waiting for its user's row, few at once (`maxWaiting`).
  // Time spent in its queue counts toward the wait: the statement gets what is left of it, and
  // none is left → refused before anything is written.
  const slow = createBatcher<{ alarm: NewAlarm; deadline: number }, Outcome>(
    async ([waiting]) => {
      const { alarm, deadline } = waiting!
      const left = Math.floor(deadline - performance.now())
      if (left <= 0) return [{ error: { code: LOCK_NOT_AVAILABLE } }]
      return [await attempt(alarm, { skipBusy: false, lockTimeoutMs: left })]
    },
    { maxBatch: 1, maxInFlight: maxWaiting, stats, onBatch: onBatch && ((size) => onBatch('slow', size)) },
  )

  async function store(alarm: NewAlarm): Promise<Inserted> {
    const entered = performance.now()
    let outcome = await fast.submit(alarm)
    for (const pause of FAST_RETRY_MS) {
      if (!isBusy(outcome) || inFlight.canceled) break
      await Bun.sleep(pause)
      outcome = await fast.submit(alarm)
    }
    if (isBusy(outcome)) outcome = await slow.submit({ alarm, deadline: entered + lockTimeoutMs })
    if ('error' in outcome) throw explain(outcome.error, alarm)
    return outcome.inserted
  }

  function explain(error: unknown, alarm: NewAlarm): unknown {
    const code = (error as { code?: string }).code
    if (code === LOCK_NOT_AVAILABLE) return Errors.userBusy(lockTimeoutMs)
    // Checked before, so only a template deleted (by SQL) since then gets here: refused at commit.
    if (code === FOREIGN_KEY_VIOLATION && alarm.template) return Errors.unknownTemplate(alarm.template.key)
    if (code === QUERY_CANCELED && inFlight.canceled) return Errors.unavailable('Herald is shutting down; the alarm was not stored; retry')
    return error
  }

  async function publish(alarm: NewAlarm): Promise<Published> {
    if (inFlight.canceled) throw Errors.unavailable('Herald is shutting down; retry')
    if (alarm.key !== undefined) {
      // A repeat is answered without touching the user's counter (no gap in seq).
      const existing = await findByKey(sql, alarm)
      if (existing) return { alarm: existing, created: false }
    }
    const inserted = await store(alarm)
    if (typeof inserted === 'object') return { alarm: inserted, created: true }
    // The key was taken between the look-up and the insert: the holder is the answer, or a conflict.
    const holder = await findByKey(sql, alarm)
    if (!holder) throw new Error('idempotency key conflicted but no alarm holds it')
    return { alarm: holder, created: false }
  }

  return {
    stats,
    publish: (alarm) => inFlight.follow(publish(alarm)),
    settled: inFlight.settled,
    cancel: inFlight.cancel,
  }
}

/** Its user's row (or first index entry) is another transaction's: for the slow lane. */
function isBusy(outcome: Outcome): boolean {
  if ('inserted' in outcome) return outcome.inserted === 'busy'
  return (outcome.error as { code?: string }).code === LOCK_NOT_AVAILABLE
}

function isIdCollision(error: unknown): boolean {
  const { code, constraint_name } = error as { code?: string; constraint_name?: string }
  return code === UNIQUE_VIOLATION && constraint_name === 'alarms_pkey'
}
