// The template store: every query Herald runs against templates.
import type postgres from 'postgres'
import type { Sql } from './db'
import type { StoredTemplate } from '../templates/catalogue'
import type { Arguments } from '../templates/icu'

type Row = {
  key: string
  version: number
  messages: Record<string, string>
  arguments: Arguments
  description: string | null
  created_at: Date
  updated_at: Date
}

function toTemplate(row: Row): StoredTemplate {
  return {
    key: row.key,
    version: row.version,
    messages: row.messages,
    arguments: row.arguments,
    description: row.description,
    createdAt: row.created_at.toISOString(),
    updatedAt: row.updated_at.toISOString(),
  }
}

/** The template queries, bound to a pool: what the routes and the catalogue are given. */
export type TemplateStore = {
  load(keys: string[]): Promise<StoredTemplate[]>
  put(input: TemplateInput, fits: (stored: Arguments) => boolean, options: { quiet: boolean }): Promise<PutOutcome>
  list(page: { after: string | undefined; limit: number }): Promise<{ templates: StoredTemplate[]; more: boolean }>
}

export function templateStore(sql: Sql): TemplateStore {
  return {
    load: (keys) => loadTemplates(sql, keys),
    put: (input, fits, options) => putTemplate(sql, input, fits, options),
    list: (page) => listTemplates(sql, page),
  }
}

/** The current templates of these keys (those that exist). */
export async function loadTemplates(sql: Sql, keys: string[]): Promise<StoredTemplate[]> {
  const rows = await sql<Row[]>`
    select key, version, messages, arguments, description, created_at, updated_at
    from templates where key = any(${keys}::text[])`
  return rows.map(toTemplate)
}

export type TemplateInput = {
  key: string
  /** Canonical locale → text, already checked. */
  messages: Record<string, string>
  description: string | null
  /** The arguments these texts take: stored when the key is new, otherwise the stored ones stay. */
  arguments: Arguments
}

export type PutOutcome =
  | { outcome: 'created' | 'changed' | 'same'; template: StoredTemplate }
  /** The key exists and these texts do not fit its arguments: nothing was stored. */
  | { outcome: 'conflict'; template: StoredTemplate }

/**
 * Creates the key, or replaces its texts and description (version + 1) if they differ and
 * `fits(stored arguments)`. In one transaction holding the key's row, so concurrent PUTs of one key
 * take turns. `quiet`: commit without the change NOTIFY (the caller announces it through Redis).
 */
export async function putTemplate(
  sql: Sql,
  input: TemplateInput,
  fits: (stored: Arguments) => boolean,
  { quiet = false }: { quiet?: boolean } = {},
): Promise<PutOutcome> {
  const messages = sql.json(input.messages)
  return sql.begin(async (tx): Promise<PutOutcome> => {
    await tx`select set_config('herald.quiet', ${quiet ? 'on' : 'off'}, true)`
    const [created] = await tx<Row[]>`
      insert into templates (key, messages, arguments, description)
      values (${input.key}, ${messages}, ${sql.json(input.arguments as postgres.JSONValue)}, ${input.description})
      on conflict (key) do nothing
      returning *`
    if (created) return { outcome: 'created', template: toTemplate(created) }
    const [current] = await tx<(Row & { same: boolean })[]>`
      select *, messages = ${messages}::jsonb and description is not distinct from ${input.description} as same
      from templates where key = ${input.key}
      for update`
    if (!current) throw new Error(`template ${input.key} was deleted while it was being replaced`)
    if (!fits(current.arguments)) return { outcome: 'conflict', template: toTemplate(current) }
    if (current.same) return { outcome: 'same', template: toTemplate(current) }
    const [changed] = await tx<Row[]>`
      update templates
      set messages = ${messages}, description = ${input.description}, version = version + 1, updated_at = now()
      where key = ${input.key}
      returning *`
    return { outcome: 'changed', template: toTemplate(changed!) }
  })
}

/** One page of templates in key order, after `after`; `more` says whether another page follows. */
export async function listTemplates(
  sql: Sql,
  { after, limit }: { after: string | undefined; limit: number },
): Promise<{ templates: StoredTemplate[]; more: boolean }> {
  const rows = await sql<Row[]>`
    select key, version, messages, arguments, description, created_at, updated_at
    from templates
    where key > ${after ?? ''}
    order by key
    limit ${limit + 1}`
  return { templates: rows.slice(0, limit).map(toTemplate), more: rows.length > limit }
}
