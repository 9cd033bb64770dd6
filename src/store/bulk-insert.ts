// One statement that stores many alarms, for a caller that already holds every one of their
// users' counter rows (store/bulk.ts locks them first). What insertAlarms does for a group commit,
// without what a bulk publish does not need: no lock order to keep (the rows are held), no busy
// users to skip, no conflict clause without keys; and what repeats is sent once — a fan-out's one
// data object and one set of texts go as one parameter each, not once per user.
import type postgres from 'postgres'
import type { NewAlarm, PublishedAlarm } from './alarms'
import type { Sql } from './db'

/**
 * Stores `alarms` (their users' rows held by the caller's transaction) and answers in input order;
 * `undefined` for one whose key its user holds already (none can, under the caller's locks, but
 * the statement does not rely on it).
 */
export async function insertHeld(
  sql: Sql,
  alarms: NewAlarm[],
  { quiet = false, track }: { quiet?: boolean; track?: (query: { cancel(): void }) => () => void } = {},
): Promise<(PublishedAlarm | undefined)[]> {
  const datas = distinct<Record<string, unknown>>()
  const params = distinct<Record<string, unknown>>()
  const texts = distinct<Record<string, string>>()
  const users: string[] = []
  const dataOf: number[] = []
  const keys: (string | null)[] = []
  const templates: (string | null)[] = []
  const paramsOf: (number | null)[] = []
  const expiresAt: (string | null)[] = []
  const ttls: (number | null)[] = []
  const textsOf: (number | null)[] = []
  for (const alarm of alarms) {
    users.push(alarm.userId)
    dataOf.push(datas.index(alarm.data))
    keys.push(alarm.key ?? null)
    templates.push(alarm.template?.key ?? null)
    paramsOf.push(alarm.template ? params.index(alarm.template.params) : null)
    expiresAt.push(alarm.expiry && 'at' in alarm.expiry ? alarm.expiry.at : null)
    ttls.push(alarm.expiry && 'ttl' in alarm.expiry ? alarm.expiry.ttl : null)
    textsOf.push(alarm.messages ? texts.index(alarm.messages) : null)
  }
  // Each set of texts as rows (set, locale, text), its locales sorted as an alarm's are.
  const setOf: number[] = []
  const locales: string[] = []
  const messages: string[] = []
  const localesOfSet = texts.values.map((set, i) => {
    const sorted = Object.keys(set).sort()
    for (const locale of sorted) {
      setOf.push(i + 1)
      locales.push(locale)
      messages.push(set[locale]!)
    }
    return sorted
  })
  const keyed = keys.some((key) => key !== null)
  const query = sql<{ n: string; id: string | null; seq: string | null; created_at: Date | null; expires_at: Date | null }[]>`
    with datas as materialized (
      -- Parsed once each, however many alarms share one.
      select k, data::jsonb as data from unnest(${datas.json()}::text[]) with ordinality as d(data, k)
    ), params as materialized (
      select k, params::jsonb as params from unnest(${params.json()}::text[]) with ordinality as p(params, k)
    ), input as materialized (
      select i.n, i.user_id, d.data, i.key, i.template_key, p.params, i.text_set,
             -- A ttl counts from the commit's clock, the one streams compare expires_at with.
             coalesce(i.expires_at::timestamptz, now() + i.ttl * interval '1 second') as expires_at,
             nextval((select pg_get_serial_sequence('alarms', 'id')::regclass)) as id
      from unnest(${users}::text[], ${dataOf}::int4[], ${keys}::text[], ${templates}::text[], ${paramsOf}::int4[],
                  ${expiresAt}::text[], ${ttls}::float8[], ${textsOf}::int4[])
             with ordinality as i(user_id, data_of, key, template_key, params_of, expires_at, ttl, text_set, n)
        join datas d on d.k = i.data_of
        left join params p on p.k = i.params_of,
        -- Before the first row goes in: the NOTIFY trigger reads herald.quiet. Local: it ends with the transaction.
        (select set_config('herald.quiet', ${quiet ? 'on' : 'off'}, true)) as settings
    ), a as (
      insert into alarms (id, user_id, data, idempotency_key, template_key, params, expires_at) overriding system value
      select id, user_id, data, key, template_key, params, expires_at from input
      ${keyed ? sql`on conflict (user_id, idempotency_key) where idempotency_key is not null do nothing` : sql``}
      returning id, seq, created_at, expires_at
    ), m as (
      insert into alarm_messages (alarm_id, locale, message)
      select a.id, t.locale, t.message
      from a join input using (id)
        join unnest(${setOf}::int4[], ${locales}::text[], ${messages}::text[]) as t(text_set, locale, message) using (text_set)
    )
    select input.n, a.id, a.seq, a.created_at, a.expires_at from input left join a using (id) order by input.n`
  const untrack = track?.(query)
  let rows
  try {
    rows = await query
  } finally {
    untrack?.()
  }
  return rows.map((row, i) => {
    if (row.id === null) return undefined
    const set = textsOf[i] ?? null
    return {
      id: Number(row.id),
      userId: users[i]!,
      seq: Number(row.seq),
      // A template alarm's languages are its template's: the caller says which.
      locales: set === null ? [] : localesOfSet[set - 1]!,
      createdAt: row.created_at!.toISOString(),
      ...(row.expires_at ? { expiresAt: row.expires_at.toISOString() } : {}),
    }
  })
}

/**
 * Values numbered from 1 in order of first appearance, the same object (a fan-out's) once: what
 * repeats is sent once, and each row names it by number.
 */
function distinct<T extends object>() {
  const numbers = new Map<T, number>()
  const values: T[] = []
  return {
    values,
    index(value: T): number {
      let n = numbers.get(value)
      if (n === undefined) {
        values.push(value)
        n = values.length
        numbers.set(value, n)
      }
      return n
    },
    json: () => values.map((value) => JSON.stringify(value as postgres.JSONValue)),
  }
}
