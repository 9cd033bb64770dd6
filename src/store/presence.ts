// Presence in PostgreSQL: the open device streams of each user, and the instances that hold them.
// Batched by the caller (signals/presence.ts): one statement per event-loop turn, never per idle stream.
import type { Sql } from './db'

/** One open device stream. `device` '' is the user's unnamed device. */
export type PresenceRow = { userId: string; device: string; instance: string; stream: string; locale: string; openedAt: number }

export type Device = { device: string; locale: string; openedAt: number }

export type PgPresence = {
  /** Says this instance is alive; forgets instances silent for an hour, and their rows. */
  heartbeat(instance: string): Promise<void>
  /**
   * Records the streams as open and answers, for each of their users, the live devices beyond the
   * newest `max` (to be superseded: too many devices). Live = on an instance seen within `aliveMs`.
   */
  open(rows: PresenceRow[], max: number, aliveMs: number): Promise<{ userId: string; device: string }[]>
  /** Forgets these streams (a newer stream of the same device keeps its row). */
  close(streams: string[]): Promise<void>
  /** A user's live devices, oldest first. */
  list(userId: string, aliveMs: number): Promise<Device[]>
  /** This instance is stopping: its rows and its heartbeat go at once. */
  forget(instance: string): Promise<void>
}

export function createPgPresence(sql: Sql): PgPresence {
  return {
    async heartbeat(instance) {
      await sql`
        with seen as (
          insert into herald_instances as i (id) values (${instance})
          on conflict (id) do update set seen_at = now()
        ), gone as (
          delete from herald_instances where seen_at < now() - interval '1 hour' returning id
        )
        delete from presence where instance in (select id from gone)`
    },
    async open(rows, max, aliveMs) {
      if (rows.length === 0) return []
      const evicted = await sql<{ user_id: string; device: string }[]>`
        with input as (
          select * from unnest(
            ${rows.map((r) => r.userId)}::text[], ${rows.map((r) => r.device)}::text[], ${rows.map((r) => r.instance)}::text[],
            ${rows.map((r) => r.stream)}::text[], ${rows.map((r) => r.locale)}::text[], ${rows.map((r) => r.openedAt)}::int8[]
          ) as i(user_id, device, instance, stream, locale, opened_ms)
        ), written as (
          insert into presence as p (user_id, device, instance, stream, locale, opened_at)
          select distinct on (user_id, device) user_id, device, instance, stream, locale, to_timestamp(opened_ms / 1000.0)
          from input order by user_id, device, opened_ms desc
          on conflict (user_id, device) do update
            set instance = excluded.instance, stream = excluded.stream, locale = excluded.locale, opened_at = excluded.opened_at
            where p.opened_at <= excluded.opened_at
          returning user_id, device, opened_at
        ), live as (
          -- This statement's rows are not visible to itself: take them from what it wrote.
          select user_id, device, opened_at from written
          union all
          select p.user_id, p.device, p.opened_at from presence p join herald_instances i on i.id = p.instance
          where p.user_id in (select user_id from input)
            and i.seen_at > now() - ${aliveMs} * interval '1 millisecond'
            and (p.user_id, p.device) not in (select user_id, device from written)
        ), ranked as (
          select user_id, device, row_number() over (partition by user_id order by opened_at desc) as newest from live
        )
        select user_id, device from ranked where newest > ${max}`
      return evicted.map((row) => ({ userId: row.user_id, device: row.device }))
    },
    async close(streams) {
      if (streams.length === 0) return
      await sql`delete from presence where stream = any(${streams}::text[])`
    },
    async list(userId, aliveMs) {
      const rows = await sql<{ device: string; locale: string; opened_at: Date }[]>`
        select p.device, p.locale, p.opened_at from presence p join herald_instances i on i.id = p.instance
        where p.user_id = ${userId} and i.seen_at > now() - ${aliveMs} * interval '1 millisecond'
        order by p.opened_at`
      return rows.map((row) => ({ device: row.device, locale: row.locale, openedAt: row.opened_at.getTime() }))
    },
    async forget(instance) {
      await sql`
        with gone as (delete from herald_instances where id = ${instance})
        delete from presence where instance = ${instance}`
    },
  }
}
