// `bun run migrate`: applies pending migrations to DATABASE_URL and exits.
import { ConfigError, readConfig } from '../config'
import { createDb } from '../store/db'
import { migrate } from '../store/migrate'

try {
  const sql = createDb(readConfig().databaseUrl, { max: 1 })
  const applied = await migrate(sql)
  console.log(applied.length ? `applied ${applied.join(', ')}` : 'up to date')
  await sql.end()
} catch (error) {
  console.error(error instanceof ConfigError ? `invalid configuration: ${error.message}` : error)
  process.exit(1)
}
