// `npm run dev`: Herald with its demo page, on a PostgreSQL of its own when DATABASE_URL is unset
// (the embedded one, data in .herald/pg), so a fresh clone needs nothing installed but npm.
import { ANYONE_CAN_MINT, ConfigError, configSecrets, readConfig } from '../config'
import { EmbeddedError, startEmbedded, type Embedded } from './embedded'
import { startServer, type RunningServer } from '../http/server'
import { createLogger, formatFromEnv } from '../log'

const DEFAULT_DATA = new URL('../../.herald/pg', import.meta.url).pathname
// Fixed, so `psql` and a restarted dev find it at the same place; 5432 is left to a real server.
const DEFAULT_PG_PORT = 54329

const env = { ...process.env }
let embedded: Embedded | undefined
let running: RunningServer | undefined
let log = createLogger({ format: formatFromEnv(env) })
try {
  if (!env.DATABASE_URL?.trim()) {
    const port = Number(env.HERALD_DEV_PG_PORT?.trim() || DEFAULT_PG_PORT)
    if (!Number.isInteger(port) || port < 0 || port > 65535)
      throw new ConfigError('HERALD_DEV_PG_PORT', `'${env.HERALD_DEV_PG_PORT}' is not a port`)
    const dir = env.HERALD_DEV_DATA?.trim() || DEFAULT_DATA
    embedded = await startEmbedded({ dir, port, log: (message) => log.log(message) })
    env.DATABASE_URL = embedded.url
    // Its password is the embedded server's fixed one (README), said on purpose for psql.
    log.log(`herald: embedded PostgreSQL at ${embedded.url} (data in ${dir}; set DATABASE_URL to use another)`)
  }
  env.HERALD_DEMO ??= '1'
  // The demo needs /dev/token when HERALD_JWT_SECRET is set. On by default here, like the demo,
  // except where `1` would be refused (publish keys set, or production): there minting for anyone
  // stays a decision, spelled out in HERALD_DEV_TOKENS.
  env.HERALD_DEV_TOKENS ??= env.HERALD_PUBLISH_KEYS?.trim() || env.NODE_ENV === 'production' ? '0' : '1'
  const config = readConfig(env)
  const instance = crypto.randomUUID().slice(0, 8)
  // The embedded server's password is no secret (it is in the README); anything else configured is.
  const secrets = configSecrets({ ...config, databaseUrl: embedded ? undefined : config.databaseUrl })
  log = createLogger({ format: config.logFormat, secrets, fields: { instance } })
  running = await startServer(config, { log, instance })
  log.log(`herald: listening on ${running.url}`, { url: running.url })
  if (config.demo) log.log(`herald: demo page at ${running.url}/`)
  if (config.demo && config.jwtSecret && !config.devTokens)
    log.log(`herald: /dev/token is off, so the demo page gets no tokens (HERALD_DEV_TOKENS=${ANYONE_CAN_MINT} turns it on)`)
  for (const signal of ['SIGTERM', 'SIGINT', 'SIGHUP'] as const)
    process.on(signal, async () => {
      log.log(`herald: ${signal}, shutting down`)
      await running?.stop()
      await embedded?.stop()
      log.log('herald: stopped')
      process.exit(0)
    })
} catch (error) {
  if (error instanceof ConfigError) log.error(`herald: invalid configuration: ${error.message}`, { variable: error.variable })
  else if (error instanceof EmbeddedError) log.error(`herald: embedded PostgreSQL: ${error.message}`)
  else log.error('herald: failed to start:', error)
  await running?.stop().catch(() => {})
  await embedded?.stop().catch(() => {})
  process.exit(1)
}
