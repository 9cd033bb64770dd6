// Applies sql/NNN_*.sql in order, each once, inside one transaction that holds an advisory lock:
// two processes starting at once take turns instead of racing.
import type { Sql } from './db'

const SQL_DIR = new URL('../../sql/', import.meta.url)

export type Migration = { name: string; text: string }

export async function loadMigrations(dir: URL = SQL_DIR): Promise<Migration[]> {
  const names = (await Array.fromAsync(new Bun.Glob('[0-9][0-9][0-9]_*.sql').scan(dir.pathname))).sort()
  return Promise.all(names.map(async (name) => ({ name, text: await Bun.file(new URL(name, dir)).text() })))
}

/** Returns the names it applied. */
export async function migrate(sql: Sql, migrations?: Migration[]): Promise<string[]> {
  const all = migrations ?? (await loadMigrations())
  return sql.begin(async (tx) => {
    await tx`select pg_advisory_xact_lock(hashtext('herald:migrate:' || current_schema()))`
    await tx`
      create table if not exists herald_migrations (
        name text primary key,
        applied_at timestamptz not null default now()
      )`
    const done = new Set((await tx<{ name: string }[]>`select name from herald_migrations`).map((r) => r.name))
    const applied: string[] = []
    for (const { name, text } of all) {
      if (done.has(name)) continue
      await tx.unsafe(text)
      await tx`insert into herald_migrations (name) values (${name})`
      applied.push(name)
    }
    return applied
  })
}
