// Publishing: publishes that arrive together share one statement and one commit (group commit in
// the application), because a commit waits for the disk and the disk, not the CPU, bounds a
// lone publish. An alarm that fails in a batch is retried alone, so one bad alarm fails only itself.
import { findByKey, insertAlarms, type NewAlarm, type PublishedAlarm } from './alarms'
import { createBatcher, type BatchStats } from '../batcher'
import type { Sql } from './db'

export type Published = { alarm: PublishedAlarm; created: boolean }

export type Publisher = {
  /** Stores the alarm; with a `key`, a repeat returns the first (`created: false`) or is a conflict. */
  publish(alarm: NewAlarm): Promise<Published>
  /** Resolves once every publish under way has been answered: shutdown waits for them. */
  settled(): Promise<void>
  readonly stats: BatchStats
}

/** Another way to wake streams than the commit's NOTIFY (the signals, when Redis carries them). */
export type Announcer = {
  /** Whether this commit may skip its NOTIFY. */
  quietCommits(): boolean
  /** After a quiet commit: wakes these users' streams everywhere. Never rejects. */
  announce(userIds: string[]): Promise<void>
}

type Outcome = { alarm?: PublishedAlarm; error?: unknown }

export type PublisherOptions = {
  maxBatch?: number
  maxInFlight?: number
  /** Where wake-ups go: without it, the NOTIFY of every commit. */
  signals?: Announcer
}

export function createPublisher(sql: Sql, { maxBatch = 500, maxInFlight = 4, signals }: PublisherOptions = {}): Publisher {
  const stats: BatchStats = { queries: 0, requests: 0 }

  /** Commits, then wakes the users' streams: by the commit's own NOTIFY, or through `signals`. */
  async function commit(alarms: NewAlarm[]) {
    const quiet = signals?.quietCommits() ?? false
    const published = await insertAlarms(sql, alarms, { quiet })
    if (quiet) await signals!.announce([...new Set(published.flatMap((alarm) => (alarm ? [alarm.userId] : [])))])
    return published
  }

  const inserts = createBatcher<NewAlarm, Outcome>(
    async (batch) => {
      try {
        return (await commit(batch)).map((alarm) => ({ alarm }))
      } catch (error) {
        if (batch.length === 1) return [{ error }]
        return Promise.all(batch.map((alarm) => commit([alarm]).then(([one]) => ({ alarm: one }), (error) => ({ error }))))
      }
    },
    { maxBatch, maxInFlight, stats },
  )

  async function publish(alarm: NewAlarm): Promise<Published> {
    if (alarm.key !== undefined) {
      // A repeat is answered without touching the user's counter (no gap in seq).
      const existing = await findByKey(sql, alarm)
      if (existing) return { alarm: existing, created: false }
    }
    const outcome = await inserts.submit(alarm)
    if (outcome.error) throw outcome.error
    if (outcome.alarm) return { alarm: outcome.alarm, created: true }
    // The key was taken between the look-up and the insert: the holder is the answer, or a conflict.
    const holder = await findByKey(sql, alarm)
    if (!holder) throw new Error('idempotency key conflicted but no alarm holds it')
    return { alarm: holder, created: false }
  }

  const underWay = new Set<Promise<unknown>>()
  return {
    stats,
    publish(alarm) {
      const publishing = publish(alarm)
      underWay.add(publishing)
      const forget = () => void underWay.delete(publishing)
      publishing.then(forget, forget)
      return publishing
    },
    async settled() {
      await Promise.allSettled([...underWay])
    },
  }
}
