// Starts one Herald process: database → migrations → app → listening socket.
import { createHerald, type Herald, type HeraldOptions } from './app'
import type { Config } from '../config'
import { createDb, type Sql } from '../store/db'
import { migrate } from '../store/migrate'

export type RunningServer = {
  herald: Herald
  sql: Sql
  server: NonNullable<Herald['app']['server']>
  url: string
  /**
   * Stops accepting, ends every stream with a jittered `retry:`, lets in-flight publishes finish,
   * closes the pool — all within `config.shutdownMs`, after which connections are cut.
   */
  stop(): Promise<void>
}

export type StartOptions = {
  log?: Pick<Console, 'log' | 'error' | 'warn'>
  /** Options for tests and embedders that the environment does not carry. */
  overrides?: Partial<HeraldOptions>
}

export async function startServer(
  config: Config,
  { log = console, overrides = {} }: StartOptions = {},
): Promise<RunningServer> {
  const sql = createDb(config.databaseUrl)
  try {
    const applied = await migrate(sql)
    if (applied.length) log.log(`herald: applied migrations ${applied.join(', ')}`)
  } catch (error) {
    await sql.end({ timeout: 1 })
    throw error
  }
  const herald = await createHerald(sql, { ...config, log, ...overrides })
  herald.app.listen({
    port: config.port,
    hostname: config.hostname,
    // Elysia turns reusePort on by default: two Herald processes started on one port by mistake
    // would then split the traffic silently. Cluster mode's workers ask for it on purpose.
    reusePort: config.worker !== undefined,
    // Streams opt out of the idle timeout one by one (server.timeout(req, 0)); other requests
    // keep a short one, so idle keep-alive sockets don't pile up.
    idleTimeout: 30,
    // Bun's own cap answers 413 with an empty body before Herald sees the request, and its error
    // reaches the handler as an internal one. Every route that reads a body caps it itself
    // (readJson: JSON 413 as soon as the cap is passed), and a body no route reads is discarded
    // by Bun as it comes, never buffered: so Bun's cap stays out of the way.
    maxRequestBodySize: Number.MAX_SAFE_INTEGER,
  })
  const server = herald.app.server!
  const url = `http://${server.hostname === '0.0.0.0' ? '127.0.0.1' : server.hostname}:${server.port}`
  let stopped: Promise<void> | undefined
  return {
    herald,
    sql,
    server,
    url,
    stop: () =>
      (stopped ??= (async () => {
        const deadline = Bun.sleep(config.shutdownMs ?? 10_000)
        const closing = server.stop(false) // no new connections; open requests go on
        await Promise.race([herald.drain(), deadline])
        await Promise.race([closing, deadline])
        await server.stop(true)
        await herald.stop()
        await sql.end({ timeout: 1 })
      })()),
  }
}
