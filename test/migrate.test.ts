import { expect, test } from 'bun:test'
import { createDb } from '../src/store/db'
import { loadMigrations, migrate } from '../src/store/migrate'
import { DATABASE_URL } from './helpers/db'

test('migrations are numbered plain SQL files, applied in order', async () => {
  const names = (await loadMigrations()).map((m) => m.name)
  expect(names.length).toBeGreaterThan(0)
  expect(names).toEqual([...names].sort())
  for (const name of names) expect(name).toMatch(/^\d{3}_[\w-]+\.sql$/)
})

test('two processes migrating one schema at once take turns: each migration runs once', async () => {
  const schema = `t_migrate_${crypto.randomUUID().slice(0, 8)}`
  const admin = createDb(DATABASE_URL, { max: 1 })
  await admin`create schema ${admin(schema)}`
  const a = createDb(DATABASE_URL, { schema, max: 1 })
  const b = createDb(DATABASE_URL, { schema, max: 1 })
  try {
    const [first, second] = await Promise.all([migrate(a), migrate(b)])
    const all = (await loadMigrations()).map((m) => m.name)
    expect([...first, ...second].sort()).toEqual(all.sort())
    expect(await migrate(a)).toEqual([])
    const rows = await a`select name from herald_migrations order by name`
    expect(rows.map((r) => r.name)).toEqual(all)
  } finally {
    await a.end()
    await b.end()
    await admin`drop schema ${admin(schema)} cascade`
    await admin.end()
  }
})

test('a failing migration leaves nothing half-applied', async () => {
  const schema = `t_migrate_${crypto.randomUUID().slice(0, 8)}`
  const admin = createDb(DATABASE_URL, { max: 1 })
  await admin`create schema ${admin(schema)}`
  const sql = createDb(DATABASE_URL, { schema, max: 1 })
  try {
    const broken = [
      { name: '001_ok.sql', text: 'create table kept_if_committed (x int);' },
      { name: '002_bad.sql', text: 'create table half (x int); select * from no_such_table;' },
    ]
    await expect(migrate(sql, broken)).rejects.toThrow(/no_such_table/)
    const [row] = await sql`select count(*)::int as n from pg_tables where schemaname = ${schema}`
    expect(row!.n).toBe(0)
  } finally {
    await sql.end()
    await admin`drop schema ${admin(schema)} cascade`
    await admin.end()
  }
})
