// A fresh schema per test file, migrated, dropped afterwards: files never see each other's rows,
// and LISTEN channels (named after the schema) never cross.
import { createDb, type Sql } from '../../src/store/db'
import { migrate } from '../../src/store/migrate'

export const DATABASE_URL = process.env.DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/test'

export type TestDb = {
  sql: Sql
  schema: string
  url: string
  [Symbol.asyncDispose](): Promise<void>
}

export async function testDb(name = 'herald'): Promise<TestDb> {
  const schema = `t_${name.replace(/\W+/g, '_').slice(0, 30)}_${crypto.randomUUID().slice(0, 8)}`.toLowerCase()
  const admin = createDb(DATABASE_URL, { max: 1 })
  await admin`create schema ${admin(schema)}`
  await admin.end()
  const sql = createDb(DATABASE_URL, { schema })
  await migrate(sql)
  const url = withSearchPath(DATABASE_URL, schema)
  return {
    sql,
    schema,
    url,
    async [Symbol.asyncDispose]() {
      await sql.end({ timeout: 1 })
      const cleanup = createDb(DATABASE_URL, { max: 1 })
      await cleanup`drop schema if exists ${cleanup(schema)} cascade`
      await cleanup.end()
    },
  }
}

/** A URL whose connections use `schema`: how a child process (or a second pool) joins the test's schema. */
export function withSearchPath(url: string, schema: string): string {
  const parsed = new URL(url)
  parsed.searchParams.set('search_path', schema)
  return parsed.toString()
}
