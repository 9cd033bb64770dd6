// Generations across processes and machines, through the database every instance already shares.
// Each stream open bumps the user's counter (batched: one statement per event-loop turn) and
// NOTIFYs the new number; every instance supersedes its own streams of that user that are older.
import { createBatcher, type BatchStats } from './batcher'
import type { Sql } from './db'
import type { Registry } from './registry'

export type Generations = {
  /** The user's next generation, unique across all instances. */
  next(userId: string): Promise<number>
  start(): Promise<void>
  stop(): Promise<void>
  readonly stats: BatchStats
}

export function createPgGenerations(sql: Sql, registry: Registry, { channel }: { channel: string }): Generations {
  const stats: BatchStats = { queries: 0, requests: 0 }
  let unlisten: (() => Promise<void>) | undefined
  const bumps = createBatcher<string, number>(
    async (users) => {
      const counts = new Map<string, number>()
      for (const user of users) counts.set(user, (counts.get(user) ?? 0) + 1)
      const rows = await sql<{ user_id: string; generation: string }[]>`
        with input as (
          select u as user_id, count(*)::int8 as n from unnest(${users}::text[]) u group by u
        ), bumped as (
          insert into user_generations as g (user_id, generation)
          select user_id, n from input
          on conflict (user_id) do update set generation = g.generation + excluded.generation
          returning g.user_id, g.generation
        )
        select user_id, generation, pg_notify(${channel}, generation || ' ' || user_id) from bumped`
      // A user opened twice in one batch gets consecutive numbers, in submission order.
      const top = new Map(rows.map((row) => [row.user_id, Number(row.generation)]))
      const given = new Map<string, number>()
      return users.map((user) => {
        const k = given.get(user) ?? 0
        given.set(user, k + 1)
        return top.get(user)! - counts.get(user)! + 1 + k
      })
    },
    { maxBatch: 1000, maxInFlight: 2, stats },
  )

  return {
    stats,
    next: (userId) => bumps.submit(userId),
    async start() {
      const listening = await sql.listen(channel, (payload) => {
        const space = payload.indexOf(' ')
        registry.supersede(payload.slice(space + 1), Number(payload.slice(0, space)))
      })
      unlisten = listening.unlisten
    },
    async stop() {
      await unlisten?.().catch(() => {})
    },
  }
}
