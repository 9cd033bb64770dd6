// `bun run start`: config → database → migrations → serve. SIGTERM/SIGINT end it cleanly.
import { createHerald } from './app'
import { ConfigError, readConfig } from './config'
import { createDb } from './db'
import { migrate } from './migrate'

async function main() {
  const config = readConfig()
  const sql = createDb(config.databaseUrl)
  const applied = await migrate(sql)
  if (applied.length) console.log(`herald: applied migrations ${applied.join(', ')}`)
  const herald = await createHerald(sql, config)
  herald.app.listen({
    port: config.port,
    hostname: config.hostname,
    // Elysia turns reusePort on by default: two Herald processes on one port by mistake would
    // then split the traffic silently. Cluster mode asks for it on purpose.
    reusePort: false,
    // Streams opt out of the idle timeout one by one (server.timeout(req, 0)); other requests
    // keep a short one so idle keep-alive sockets don't pile up.
    idleTimeout: 30,
    maxRequestBodySize: 1024 * 1024,
  })
  const server = herald.app.server!
  console.log(`herald: listening on http://${server.hostname}:${server.port}`)

  let stopping = false
  const stop = async (signal: string) => {
    if (stopping) return
    stopping = true
    console.log(`herald: ${signal}, shutting down`)
    await server.stop(true)
    await herald.stop()
    await sql.end({ timeout: 5 })
    process.exit(0)
  }
  process.on('SIGTERM', () => void stop('SIGTERM'))
  process.on('SIGINT', () => void stop('SIGINT'))
}

main().catch((error) => {
  if (error instanceof ConfigError) console.error(`herald: invalid configuration: ${error.message}`)
  else console.error('herald: failed to start:', error)
  process.exit(1)
})
