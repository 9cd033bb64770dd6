// The inbox's queries: a user's history page by page, marks (read, seen, archived and back) and the
// badge. The badge is kept by triggers on the user's counter row (sql/006), so reading it is one
// primary-key look-up, and every change of state, through here or any system's UPDATE, lands in
// the user's ordered log for the streams.
import type { Sql } from './db'
import type { AlarmRow, Badge } from './alarms'
import { Errors } from '../errors'

export const STATUSES = ['inbox', 'unread', 'unseen', 'archived', 'all'] as const
export type Status = (typeof STATUSES)[number]

export const MARKS = ['read', 'unread', 'seen', 'archive', 'unarchive'] as const
export type Mark = (typeof MARKS)[number]

/** Which alarms a mark changes: these ids (all the user's), every alarm up to a seq, or all. */
export type MarkTarget = { ids: number[] } | { upTo: number } | { all: true }

export type HistoryQuery = { status: Status; before?: number; limit: number }

/** An alarm as history lists it: every text (the route picks one), and its state. */
export type HistoryRow = AlarmRow & { readAt: string | null; seenAt: string | null; archivedAt: string | null }

export type HistoryPage = { rows: HistoryRow[]; next: number | null; badge: Badge }

const NO_BADGE: Badge = Object.freeze({ unread: 0, unseen: 0 })

/**
 * Newest first, `limit` at most, before the seq `before`; `next` is the seq to pass as `before` for
 * the page after, or null at the end. One statement: the page and the badge share a snapshot. Each
 * status reads along (user_id, seq), newest first, filtering by state (sql/006 says why no index names the state).
 */
export async function history(sql: Sql, userId: string, { status, before, limit }: HistoryQuery): Promise<HistoryPage> {
  const which = {
    inbox: sql`and archived_at is null`,
    unread: sql`and read_at is null and archived_at is null`,
    unseen: sql`and seen_at is null and archived_at is null`,
    archived: sql`and archived_at is not null`,
    all: sql``,
  }[status]
  const rows = await sql<
    {
      id: string | null
      seq: string
      data: string
      created_at: Date
      expires_at: Date | null
      read_at: Date | null
      seen_at: Date | null
      archived_at: Date | null
      locales: string[] | null
      messages: string[] | null
      template_key: string | null
      params: string | null
      unread: number | null
      unseen: number | null
    }[]
  >`
    with page as (
      select id, seq, data::text as data, created_at, expires_at, read_at, seen_at, archived_at, template_key, params::text as params
      from alarms
      where user_id = ${userId} ${which} ${before === undefined ? sql`` : sql`and seq < ${before}`}
        and (expires_at is null or expires_at > now())
      order by seq desc
      limit ${limit + 1}
    )
    select p.*, m.locales, m.messages, b.unread, b.unseen
    from (select 1) as one
    left join page p on true
    left join lateral (
      select array_agg(locale order by locale) as locales, array_agg(message order by locale) as messages
      from alarm_messages where alarm_id = p.id
    ) m on true
    left join user_seqs b on b.user_id = ${userId}
    order by p.seq desc`
  const badge = rows[0]?.unread == null ? NO_BADGE : { unread: rows[0].unread, unseen: rows[0].unseen! }
  const found = rows.filter((row) => row.id !== null)
  const more = found.length > limit
  const page = found.slice(0, limit).map(
    (row): HistoryRow => ({
      kind: 'alarm',
      id: Number(row.id),
      seq: Number(row.seq),
      locales: row.locales ?? [],
      messages: row.messages ?? [],
      dataJson: row.data,
      createdAt: row.created_at.toISOString(),
      ...(row.expires_at ? { expiresAt: row.expires_at.toISOString() } : {}),
      ...(row.template_key !== null ? { template: { key: row.template_key, params: row.params ?? '{}' } } : {}),
      readAt: row.read_at?.toISOString() ?? null,
      seenAt: row.seen_at?.toISOString() ?? null,
      archivedAt: row.archived_at?.toISOString() ?? null,
    }),
  )
  return { rows: page, next: more ? page[page.length - 1]!.seq : null, badge }
}

/** Each mark: the column it sets, what it sets it to, and what "already done" is. */
const SETS = {
  read: { column: 'read_at', to: 'now' },
  unread: { column: 'read_at', to: 'null' },
  seen: { column: 'seen_at', to: 'now' },
  archive: { column: 'archived_at', to: 'now' },
  unarchive: { column: 'archived_at', to: 'null' },
} as const

export type MarkOptions = {
  /** Commit without NOTIFY: the caller announces the change another way (Redis). */
  quiet?: boolean
  /** How long to wait for the user's counter row while another transaction holds it. */
  lockTimeoutMs?: number
}

/**
 * Marks the alarms, all or nothing: an id that is not this user's alarm (or has expired) fails the
 * whole mark with 404 ALARM_NOT_FOUND, naming it. Alarms already in that state are left alone (no event, no count).
 * One statement, one round trip: the user's counter row is locked first (as every writer of the
 * user takes it, so a mark and a publish never deadlock), the alarms are updated (the triggers of
 * sql/006 write the event and move the badge), and the badge after is the locked one plus what
 * this update changed, exact because nobody else can change it before the commit.
 */
export async function mark(
  sql: Sql,
  userId: string,
  kind: Mark,
  target: MarkTarget,
  { quiet = false, lockTimeoutMs = 0 }: MarkOptions = {},
): Promise<{ changed: number; badge: Badge }> {
  const { column, to } = SETS[kind]
  const upTo = 'upTo' in target ? String(target.upTo) : 'all' in target ? 'all' : ''
  const ids = 'ids' in target ? target.ids : []
  const where =
    'ids' in target ? sql`and id = any(${ids}::int8[])` : 'upTo' in target ? sql`and seq <= ${target.upTo}` : sql``
  const value = to === 'now' ? sql`now()` : sql`null`
  // An expired alarm is gone for the user, though the sweep may not have deleted it yet.
  const live = sql`(expires_at is null or expires_at > now())`
  const pending = to === 'now' ? sql`and ${sql(column)} is null` : sql`and ${sql(column)} is not null`
  const [row] = await sql<
    { missing: string | null; unread: number | null; unseen: number | null; changed: number; live: number; unread_after: number; unseen_after: number }[]
  >`
    with settings as materialized (
      select set_config('herald.up_to', ${upTo}, true), set_config('herald.quiet', ${quiet ? 'on' : 'off'}, true),
             set_config('lock_timeout', ${lockTimeoutMs + 'ms'}, true)
    ), counter as materialized (
      select unread, unseen from user_seqs, settings where user_id = ${userId} for update of user_seqs
    ), missing as materialized (
      select x as id from unnest(${ids}::int8[]) as x
      where not exists (select 1 from alarms where user_id = ${userId} and id = x and ${live})
      limit 1
    ), changed as (
      update alarms set ${sql(column)} = ${value}
      where user_id = ${userId} ${where} ${pending} and ${live}
        and exists (select 1 from counter) and not exists (select 1 from missing)
      returning read_at, seen_at, archived_at
    )
    select (select id from missing) as missing, c.unread, c.unseen,
           (select count(*) from changed)::int as changed,
           (select count(*) from changed where archived_at is null)::int as live,
           (select count(*) from changed where read_at is null)::int as unread_after,
           (select count(*) from changed where seen_at is null)::int as unseen_after
    from (select 1) as one left join counter c on true`
  if (row!.missing !== null) throw Errors.alarmNotFound(Number(row!.missing))
  const before = row!.unread === null ? NO_BADGE : { unread: row!.unread, unseen: row!.unseen! }
  const [unread, unseen] = {
    read: [-row!.live, 0],
    unread: [row!.live, 0],
    seen: [0, -row!.live],
    archive: [-row!.unread_after, -row!.unseen_after],
    unarchive: [row!.unread_after, row!.unseen_after],
  }[kind]
  return { changed: row!.changed, badge: { unread: before.unread + unread!, unseen: before.unseen + unseen! } }
}

/**
 * Deletes one of the user's alarms and answers its seq and the badge after. The counter row is
 * locked first (the writers' order); the delete trigger (sql/010) writes the `deleted` entry
 * into the user's log after it and moves the badge. Not the user's, or expired: 404 ALARM_NOT_FOUND.
 */
export async function deleteAlarm(
  sql: Sql,
  userId: string,
  id: number,
  { quiet = false, lockTimeoutMs = 0 }: MarkOptions = {},
): Promise<{ id: number; seq: number; badge: Badge }> {
  const [row] = await sql<{ seq: string | null; unread: number | null; unseen: number | null; was_unread: boolean; was_unseen: boolean }[]>`
    with settings as materialized (
      select set_config('herald.quiet', ${quiet ? 'on' : 'off'}, true), set_config('lock_timeout', ${lockTimeoutMs + 'ms'}, true)
    ), counter as materialized (
      select unread, unseen from user_seqs, settings where user_id = ${userId} for update of user_seqs
    ), gone as (
      delete from alarms
      where user_id = ${userId} and id = ${id} and (expires_at is null or expires_at > now())
        and exists (select 1 from counter)
      returning seq, read_at is null and archived_at is null as was_unread, seen_at is null and archived_at is null as was_unseen
    )
    select g.seq, c.unread, c.unseen, g.was_unread, g.was_unseen
    from (select 1) as one left join counter c on true left join gone g on true`
  if (!row || row.seq === null) throw Errors.alarmNotFound(id)
  const badge = { unread: row.unread! - Number(row.was_unread), unseen: row.unseen! - Number(row.was_unseen) }
  return { id, seq: Number(row.seq), badge }
}

/** The user's badge now. */
export async function badgeOf(sql: Sql, userId: string): Promise<Badge> {
  const [row] = await sql<Badge[]>`select unread, unseen from user_seqs where user_id = ${userId}`
  return row ? { unread: row.unread, unseen: row.unseen } : NO_BADGE
}

export type Inbox = {
  history(userId: string, query: HistoryQuery): Promise<HistoryPage>
  mark(userId: string, kind: Mark, target: MarkTarget): Promise<{ changed: number; badge: Badge }>
  /** Deletes one alarm: every stream of the user gets `deleted`. */
  remove(userId: string, id: number): Promise<{ id: number; seq: number; badge: Badge }>
  badge(userId: string): Promise<Badge>
}

export type InboxOptions = {
  /** Another way to wake streams than the commit's NOTIFY (the signals, when Redis carries them). */
  announcer?: { quietCommits(): boolean; announce(userIds: string[]): Promise<void> }
  lockTimeoutMs?: number
}

/** The inbox bound to a pool: what the routes hold. */
export function createInbox(sql: Sql, { announcer, lockTimeoutMs = 5000 }: InboxOptions = {}): Inbox {
  return {
    history: (userId, query) => history(sql, userId, query),
    async mark(userId, kind, target) {
      const quiet = announcer?.quietCommits() ?? false
      const result = await mark(sql, userId, kind, target, { quiet, lockTimeoutMs }).catch(busy)
      if (quiet && result.changed > 0) await announcer!.announce([userId])
      return result
    },
    async remove(userId, id) {
      const quiet = announcer?.quietCommits() ?? false
      const result = await deleteAlarm(sql, userId, id, { quiet, lockTimeoutMs }).catch(busy)
      if (quiet) await announcer!.announce([userId])
      return result
    },
    badge: (userId) => badgeOf(sql, userId),
  }

  function busy(error: unknown): never {
    if ((error as { code?: string }).code === '55P03') throw Errors.userBusy(lockTimeoutMs)
    throw error
  }
}
