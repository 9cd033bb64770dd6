// The alarm store: every query Herald runs against alarms, as tagged templates.
import type postgres from 'postgres'
import type { Sql } from './db'
import { Errors } from '../errors'
import type { Template } from '../templates/catalogue'

/** What an alarm shows: its texts (`messages`), or a template and its params (`template`), never both. */
export type AlarmContent =
  | {
      /** Canonical locale → text. */
      messages: Record<string, string>
      template?: undefined
    }
  | { messages?: undefined; template: { key: string; params: Record<string, unknown> } }

export type NewAlarm = {
  userId: string
  data: Record<string, unknown>
  key?: string
  expiry?: Expiry
} & AlarmContent

/** When an alarm stops being shown: at an instant (ISO 8601), or `ttl` seconds after its commit. */
export type Expiry = { at: string } | { ttl: number }

export type PublishedAlarm = {
  id: number
  userId: string
  seq: number
  locales: string[]
  createdAt: string
  /** When the alarm stops being shown (a TTL or `expiresAt`); it is deleted soon after. */
  expiresAt?: string
}

/** One alarm as streams read it: every text, so each stream can pick its language. */
export type AlarmRow = {
  kind: 'alarm'
  id: number
  seq: number
  /** Sorted, as stored (a direct writer may store `en-us`); `messages` in the same order. */
  locales: string[]
  messages: string[]
  /** The alarm's `data` as JSON text, spliced into frames without a parse/stringify round trip. */
  dataJson: string
  createdAt: string
  /** Set when the alarm expires: until then it is shown (Herald never reads an expired one). */
  expiresAt?: string
  /**
   * A template alarm (then `locales` and `messages` are empty): its key and params (JSON text, as
   * stored); `resolved` is the key's current template, given by the catalogue before rendering.
   */
  template?: { key: string; params: string; resolved?: Template }
}

/** A change of read / seen / archived state, in the user's log: which alarms, by id or up to a seq. */
export type StateRow = {
  kind: 'state'
  seq: number
  change: string
  ids?: number[]
  upTo?: number
}

/** An alarm deleted (through the API, or a system's DELETE): which one, by its id and seq. */
export type DeletedRow = { kind: 'deleted'; seq: number; id: number; alarmSeq: number }

/** What a user's ordered log holds: alarms, state changes and deletions share one per-user seq. */
export type LogEntry = AlarmRow | StateRow | DeletedRow

/** Alarms not read (`unread`), not seen (`unseen`), and not archived. */
export type Badge = { unread: number; unseen: number }

/** One read of a user's log: the entries after the cursor, and the badge in the same snapshot. */
export type Page = { entries: LogEntry[]; badge: Badge }

/** Where a user's log stands: the newest seq, and the badge with it. */
export type Position = { seq: number; badge: Badge }

export type FetchRequest = { userId: string; after: number }

/** What streams read, bound to a pool: the stream layer never holds the pool itself. */
export type LogReads = {
  fetchAfter(requests: FetchRequest[], limit: number): Promise<Page[]>
  positions(userIds: string[]): Promise<Map<string, Position>>
}

export function logReads(sql: Sql): LogReads {
  return {
    fetchAfter: (requests, limit) => fetchAfter(sql, requests, limit),
    positions: (userIds) => positions(sql, userIds),
  }
}

const NO_BADGE: Badge = Object.freeze({ unread: 0, unseen: 0 })

/** What became of one alarm of a batch: stored, its `key` already taken, or its user busy. */
export type Inserted = PublishedAlarm | 'taken' | 'busy'

export type InsertOptions = {
  /** Commit without the NOTIFY (sql/004): the caller announces the alarms another way (Redis). */
  quiet?: boolean
  /**
   * Leave out (as 'busy') the alarms of users whose counter row another transaction holds, instead
   * of waiting for it: one long writer must not stall a batch that carries other users.
   */
  skipBusy?: boolean
  /** The longest this statement waits for a lock (a counter row, an index entry) before it fails with 55P03. */
  lockTimeoutMs?: number
  /** Told of the statement while it runs, so shutdown can cancel it (it then rolls back). */
  track?: (query: { cancel(): void }) => () => void
  /**
   * Told, once committed, of the text alarms stored for users whose counter row this statement
   * held (`skipBusy`): each as streams read it, with its user's badge right after it.
   */
  committed?: (alarms: Committed[]) => void
}

/**
 * A text alarm just committed, as a fetch would read it, with its user's badge right after it
 * (exact: the statement held the user's counter row, so nobody else moved the badge meanwhile).
 */
export type Committed = { userId: string; row: AlarmRow; badge: Badge }

/**
 * Stores alarms and their texts in one statement (one round trip, one commit) and answers in input
 * order. Rows are inserted in (user, input) order, so the per-user counter rows are locked in one
 * order by every batch and concurrent batches cannot deadlock.
 */
export async function insertAlarms(
  sql: Sql,
  alarms: NewAlarm[],
  { quiet = false, skipBusy = false, lockTimeoutMs = 0, track, committed }: InsertOptions = {},
): Promise<Inserted[]> {
  const users: string[] = []
  const datas: string[] = []
  const keys: (string | null)[] = []
  const templates: (string | null)[] = []
  const params: (string | null)[] = []
  const expiresAt: (string | null)[] = []
  const ttls: (number | null)[] = []
  const messageOf: number[] = []
  const messageLocales: string[] = []
  const messageTexts: string[] = []
  const localesOf: string[][] = []
  alarms.forEach((alarm, i) => {
    users.push(alarm.userId)
    datas.push(JSON.stringify(alarm.data))
    keys.push(alarm.key ?? null)
    templates.push(alarm.template?.key ?? null)
    params.push(alarm.template ? JSON.stringify(alarm.template.params) : null)
    expiresAt.push(alarm.expiry && 'at' in alarm.expiry ? alarm.expiry.at : null)
    ttls.push(alarm.expiry && 'ttl' in alarm.expiry ? alarm.expiry.ttl : null)
    // A template alarm's languages are its template's, now and later: the caller says which.
    const locales = alarm.messages ? Object.keys(alarm.messages).sort() : []
    localesOf.push(locales)
    for (const locale of locales) {
      messageOf.push(i + 1)
      messageLocales.push(locale)
      messageTexts.push(alarm.messages![locale]!)
    }
  })
  const query = sql<
    {
      n: string
      id: string | null
      seq: string | null
      created_at: Date | null
      expires_at: Date | null
      busy: boolean
      data: string | null
      locales: string[] | null
      messages: string[] | null
      unread: number | null
      unseen: number | null
    }[]
  >`
    with input as materialized (
      select n, user_id, data::jsonb as data, key, template_key, params::jsonb as params,
             -- A ttl counts from the commit's clock, the one streams compare expires_at with.
             coalesce(expires_at::timestamptz, now() + ttl * interval '1 second') as expires_at,
             nextval(pg_get_serial_sequence('alarms', 'id')) as id
      from unnest(${users}::text[], ${datas}::text[], ${keys}::text[], ${templates}::text[], ${params}::text[],
                  ${expiresAt}::text[], ${ttls}::float8[])
        with ordinality as i(user_id, data, key, template_key, params, expires_at, ttl, n),
        -- Set before the first row goes in: the NOTIFY trigger reads herald.quiet, and lock waits
        -- read lock_timeout when they begin. Local: both end with this statement.
        (select set_config('herald.quiet', ${quiet ? 'on' : 'off'}, true),
                set_config('lock_timeout', ${lockTimeoutMs + 'ms'}, true)) as settings
    ), mine as materialized (
      -- The counter rows this statement can have now; a row another transaction holds is skipped.
      -- Their badge as locked: only this statement moves it until the commit.
      select user_id, unread, unseen from user_seqs
      where ${skipBusy} and user_id in (select user_id from input)
      order by user_id
      for update skip locked
    ), busy as materialized (
      select user_id from user_seqs
      where ${skipBusy} and user_id in (select user_id from input) and user_id not in (select user_id from mine)
    ), a as (
      insert into alarms (id, user_id, data, idempotency_key, template_key, params, expires_at) overriding system value
      select id, user_id, data, key, template_key, params, expires_at from input
      where user_id not in (select user_id from busy)
      order by user_id, n
      on conflict (user_id, idempotency_key) where idempotency_key is not null do nothing
      returning id, seq, created_at, expires_at, data::text as data_json
    ), m as (
      insert into alarm_messages (alarm_id, locale, message)
      select a.id, m.locale, m.message
      from unnest(${messageOf}::int8[], ${messageLocales}::text[], ${messageTexts}::text[]) as m(n, locale, message)
      join input using (n)
      join a on a.id = input.id
      returning alarm_id, locale, message
    ), texts as (
      -- In the order a fetch reads them (the database's collation), so a stream shows the same.
      select alarm_id, array_agg(locale order by locale) as locales, array_agg(message order by locale) as messages
      from m group by alarm_id
    )
    select input.n, a.id, a.seq, a.created_at, a.expires_at, input.user_id in (select user_id from busy) as busy,
           a.data_json as data, texts.locales, texts.messages, mine.unread, mine.unseen
    from input left join a on a.id = input.id
      left join texts on texts.alarm_id = a.id
      left join mine on mine.user_id = input.user_id
    order by input.n`
  const untrack = track?.(query)
  let rows
  try {
    rows = await query
  } finally {
    untrack?.()
  }
  if (committed) committed(committedAlarms(rows, alarms))
  return rows.map((row, i): Inserted => {
    if (row.busy) return 'busy'
    if (row.id === null) return 'taken'
    return {
      id: Number(row.id),
      userId: alarms[i]!.userId,
      seq: Number(row.seq),
      locales: localesOf[i]!,
      createdAt: row.created_at!.toISOString(),
      ...(row.expires_at ? { expiresAt: row.expires_at.toISOString() } : {}),
    }
  })
}

/**
 * The stored text alarms of users whose badge the statement knows, with the badge after each: every
 * alarm is new, unread and unseen (Herald inserts none read), so each adds one to both. It knows it
 * when it held the user's counter row (its badge as locked), or when its first alarm of the user is
 * the user's first ever (seq 1: the statement made the row, from nothing).
 */
function committedAlarms(
  rows: { id: string | null; seq: string | null; created_at: Date | null; expires_at: Date | null; data: string | null; locales: string[] | null; messages: string[] | null; unread: number | null; unseen: number | null }[],
  alarms: NewAlarm[],
): Committed[] {
  const out: Committed[] = []
  /** Alarms stored per user so far (template ones too: each moves the badge). */
  const added = new Map<string, number>()
  /** Users whose first alarm ever is in this statement: their badge starts from nothing. */
  const fromNothing = new Set<string>()
  rows.forEach((row, i) => {
    if (row.id === null) return
    const { userId, template } = alarms[i]!
    const n = (added.get(userId) ?? 0) + 1
    added.set(userId, n)
    if (n === 1 && row.unread === null && row.seq === '1') fromNothing.add(userId)
    if (template || (row.unread === null && !fromNothing.has(userId))) return
    const entry = toAlarm({ ...row, seq: row.seq!, created_at: row.created_at! })
    out.push({ userId, row: entry, badge: { unread: (row.unread ?? 0) + n, unseen: (row.unseen ?? 0) + n } })
  })
  return out
}

/**
 * A direct writer that chose an alarm id itself (`overriding system value`) can leave the id
 * sequence behind the table: moves it past the largest id, so the next publish does not collide.
 */
export async function catchUpAlarmIds(sql: Sql): Promise<void> {
  await sql`select setval(pg_get_serial_sequence('alarms', 'id'), greatest((select max(id) from alarms), 1))`
}

export async function findByKey(sql: Sql, alarm: NewAlarm): Promise<PublishedAlarm | undefined> {
  const { userId, key = '' } = alarm
  // The same alarm: the same data, and the same texts, or the same template with the same params.
  // Not its expiry: a ttl retried a moment later names a later instant, and the first one stands.
  const [row] = await sql<
    { id: string; seq: string; created_at: Date; expires_at: Date | null; locales: string[]; same: boolean }[]
  >`
    select a.id, a.seq, a.created_at, a.expires_at,
           array(select locale from alarm_messages where alarm_id = a.id order by locale) as locales,
           a.data = ${sql.json(alarm.data as postgres.JSONValue)}
             and coalesce((select jsonb_object_agg(locale, message) from alarm_messages where alarm_id = a.id), '{}')
                 = ${sql.json(alarm.messages ?? {})}
             and a.template_key is not distinct from ${alarm.template?.key ?? null}::text
             and a.params is not distinct from ${alarm.template ? JSON.stringify(alarm.template.params) : null}::text::jsonb as same
    from alarms a
    where a.user_id = ${userId} and a.idempotency_key = ${key}`
  if (!row) return undefined
  if (!row.same) throw Errors.idempotencyConflict(key)
  return {
    id: Number(row.id),
    userId,
    seq: Number(row.seq),
    locales: row.locales,
    createdAt: row.created_at.toISOString(),
    ...(row.expires_at ? { expiresAt: row.expires_at.toISOString() } : {}),
  }
}

type LogRow = {
  i: string
  kind: 'alarm' | 'state' | 'deleted'
  id: string | null
  seq: string
  data: string | null
  created_at: Date
  locales: string[] | null
  messages: string[] | null
  change: string | null
  ids: string[] | null
  up_to: string | null
  unread: number | null
  unseen: number | null
  template_key: string | null
  params: string | null
  alarm_seq: string | null
  expires_at: Date | null
}

/**
 * The log after each (user, cursor), oldest first, at most `limit` per request — alarms and state
 * changes merged by seq — with the user's badge read in the same snapshot: one query serves a whole
 * batch of woken streams. Returns one page per request, in request order.
 */
export async function fetchAfter(sql: Sql, requests: FetchRequest[], limit: number): Promise<Page[]> {
  const users = requests.map((r) => r.userId)
  const afters = requests.map((r) => r.after)
  const rows = await sql<LogRow[]>`
    select r.i, e.kind, e.id, e.seq, e.data, e.created_at, m.locales, m.messages, e.change, e.ids, e.up_to,
           e.alarm_seq, e.expires_at, e.template_key, e.params, b.unread, b.unseen
    from unnest(${users}::text[], ${afters}::int8[]) with ordinality as r(user_id, after, i)
    -- A left join: a request with nothing new still gets its badge (a sweep may have moved it).
    left join lateral (
      (select 'alarm' as kind, id, seq, data::text as data, created_at, null::text as change, null::int8[] as ids,
              null::int8 as up_to, null::int8 as alarm_seq, expires_at, template_key, params::text as params
       from alarms
       where user_id = r.user_id and seq > r.after and (expires_at is null or expires_at > now())
       order by seq limit ${limit})
      union all
      (select kind, null, seq, null, created_at, change, ids, up_to, alarm_seq, null, null, null
       from user_events where user_id = r.user_id and seq > r.after order by seq limit ${limit})
      order by seq
      limit ${limit}
    ) e on true
    left join lateral (
      select array_agg(locale order by locale) as locales, array_agg(message order by locale) as messages
      from alarm_messages where alarm_id = e.id
    ) m on e.kind = 'alarm'
    left join user_seqs b on b.user_id = r.user_id
    order by r.i, e.seq`
  const pages: Page[] = requests.map(() => ({ entries: [], badge: NO_BADGE }))
  // Several requests may name the same entry (two streams of one user): share the row, so its
  // frames are encoded once.
  const shared = new Map<string, LogEntry>()
  for (const row of rows) {
    const page = pages[Number(row.i) - 1]!
    page.badge = row.unread === null ? NO_BADGE : { unread: row.unread, unseen: row.unseen! }
    if (row.seq === null) continue // nothing new for this request: its badge alone
    const key = row.kind === 'alarm' ? row.id! : `${users[Number(row.i) - 1]}\u0000${row.seq}`
    let entry = shared.get(key)
    if (!entry) {
      entry = toEntry(row)
      shared.set(key, entry)
    }
    page.entries.push(entry)
  }
  return pages
}

function toEntry(row: LogRow): LogEntry {
  if (row.kind === 'deleted') return { kind: 'deleted', seq: Number(row.seq), id: Number(row.ids![0]), alarmSeq: Number(row.alarm_seq) }
  if (row.kind === 'state')
    return {
      kind: 'state',
      seq: Number(row.seq),
      change: row.change!,
      ...(row.ids ? { ids: row.ids.map(Number) } : { upTo: Number(row.up_to) }),
    }
  return toAlarm(row)
}

/** An alarm's columns as the fetch reads them, and as an insert returns them for the hand-off. */
type AlarmColumns = Pick<LogRow, 'id' | 'seq' | 'data' | 'created_at' | 'locales' | 'messages' | 'expires_at'> &
  Partial<Pick<LogRow, 'template_key' | 'params'>>

/** The alarm as streams show it: one shape, whether a fetch read it or its own insert returned it. */
function toAlarm(row: AlarmColumns): AlarmRow {
  // Set field by field, not spread: this runs once per alarm of every woken stream.
  const alarm: AlarmRow = {
    kind: 'alarm',
    id: Number(row.id),
    seq: Number(row.seq),
    locales: row.locales ?? [],
    messages: row.messages ?? [],
    dataJson: row.data!,
    createdAt: row.created_at.toISOString(),
  }
  if (row.expires_at) alarm.expiresAt = row.expires_at.toISOString()
  if (row.template_key != null) alarm.template = { key: row.template_key, params: row.params ?? '{}' }
  return alarm
}

/**
 * For each user, where its log stands: the newest seq committed (where new streams start, and how
 * the safety net finds streams that missed a wake-up), and the badge in the same snapshot.
 */
export async function positions(sql: Sql, userIds: string[]): Promise<Map<string, Position>> {
  const rows = await sql<{ user_id: string; last_seq: string; unread: number; unseen: number }[]>`
    select user_id, last_seq, unread, unseen from user_seqs where user_id = any(${userIds}::text[])`
  const out = new Map<string, Position>(userIds.map((user) => [user, { seq: 0, badge: NO_BADGE }]))
  for (const row of rows) out.set(row.user_id, { seq: Number(row.last_seq), badge: { unread: row.unread, unseen: row.unseen } })
  return out
}

/** For each user, the newest seq committed (0 for none). */
export async function latestSeqs(sql: Sql, userIds: string[]): Promise<Map<string, number>> {
  return new Map([...(await positions(sql, userIds))].map(([user, position]) => [user, position.seq]))
}

/** The languages learned so far (by any instance), at most `limit`. */
export async function knownLocales(sql: Sql, limit: number): Promise<string[]> {
  const rows = await sql<{ locale: string }[]>`select locale from locales order by locale limit ${limit}`
  return rows.map((row) => row.locale)
}

/**
 * Keeps newly learned languages for other instances and restarts. Its own statement, outside any
 * alarm's transaction, in sorted order: a writer's transaction never holds a `locales` row, so
 * learning a language cannot deadlock anyone.
 */
export async function rememberLocales(sql: Sql, tags: string[]): Promise<void> {
  await sql`insert into locales (locale) select unnest(${[...tags].sort()}::text[]) on conflict do nothing`
}
