// What the signal backends need of PostgreSQL, as functions: LISTEN/NOTIFY, the shared generation
// counter, and each user's newest seq (for catch-up). The signal modules never hold the pool.
import { latestSeqs } from './alarms'
import type { Sql } from './db'

export type Channels = {
  /**
   * LISTENs on `channel` (one connection per process, shared). postgres.js reconnects by itself:
   * `onReconnect` runs after every LISTEN but the first, when notifications may have been missed.
   * Returns how to stop listening.
   */
  listen(channel: string, onMessage: (payload: string) => void, onReconnect?: () => void): Promise<() => Promise<void>>
  /** One NOTIFY per payload, in one statement. */
  notify(channel: string, payloads: string[]): Promise<void>
  /** For each user, the newest seq committed (0 for none). */
  latestSeqs(userIds: string[]): Promise<Map<string, number>>
  /**
   * Adds each key's opens (key → count) to its generation, a hybrid clock max(last + n, now µs + n - 1),
   * announces "<generation> <key>" (or "<generation>:<reason> <key>") on `channel`, and answers each key's new top.
   */
  bumpGenerations(counts: Map<string, number>, channel: string, reason?: string): Promise<Map<string, number>>
  /** The generations of these keys, where known. */
  readGenerations(keys: string[]): Promise<[key: string, generation: number][]>
}

export function createChannels(sql: Sql): Channels {
  return {
    async listen(channel, onMessage, onReconnect) {
      let listens = 0
      const listening = await sql.listen(channel, onMessage, () => {
        if (listens++ > 0) onReconnect?.()
      })
      return listening.unlisten
    },
    async notify(channel, payloads) {
      if (payloads.length === 0) return
      await sql`select pg_notify(${channel}, p) from unnest(${payloads}::text[]) p`
    },
    latestSeqs: (userIds) => latestSeqs(sql, userIds),
    async bumpGenerations(counts, channel, reason) {
      const tag = reason ? `:${reason}` : ''
      const rows = await sql<{ user_id: string; generation: string }[]>`
        with input as (
          select * from unnest(${[...counts.keys()]}::text[], ${[...counts.values()]}::int8[]) as i(user_id, n)
        ), clock as (
          select (extract(epoch from clock_timestamp()) * 1000000)::int8 as now
        ), bumped as (
          insert into user_generations as g (user_id, generation)
          select user_id, now + n - 1 from input, clock
          on conflict (user_id) do update
            set generation = greatest(g.generation + excluded.generation - (select now from clock) + 1, excluded.generation)
          returning g.user_id, g.generation
        )
        select user_id, generation, pg_notify(${channel}, generation || ${tag} || ' ' || user_id) from bumped`
      return new Map(rows.map((row) => [row.user_id, Number(row.generation)]))
    },
    async readGenerations(keys) {
      const rows = await sql<{ user_id: string; generation: string }[]>`
        select user_id, generation from user_generations where user_id = any(${keys}::text[])`
      return rows.map((row) => [row.user_id, Number(row.generation)])
    },
  }
}
