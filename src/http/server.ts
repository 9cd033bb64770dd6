// Starts one Herald process: database → migrations → app → listening socket.
import { createHerald, type Herald, type HeraldOptions } from './app'
import type { Config } from '../config'
import { applicationNameOf, createDb, type Sql } from '../store/db'
import { migrate } from '../store/migrate'
import type { Log } from '../log'

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
  log?: Log
  /** This process's short id (main.ts makes one): its pool's application_name, its signals' name. */
  instance?: string
  /** Options for tests and embedders that the environment does not carry. */
  overrides?: Partial<HeraldOptions>
}

export async function startServer(
  config: Config,
  { log = console, instance = crypto.randomUUID().slice(0, 8), overrides = {} }: StartOptions = {},
): Promise<RunningServer> {
  // Named per process, so /metrics can count this pool's connections in pg_stat_activity.
  const sql = createDb(config.databaseUrl, { applicationName: applicationNameOf(instance) })
  try {
    const applied = await migrate(sql)
    if (applied.length) log.log(`herald: applied migrations ${applied.join(', ')}`)
  } catch (error) {
    await sql.end({ timeout: 1 })
    throw error
  }
  const herald = await createHerald(sql, { ...config, log, instance, ...overrides })
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
    stop: () => (stopped ??= shutDown(herald, server, sql, config.shutdownMs ?? 10_000)),
  }
}

/**
 * Within `limitMs`, all of it: no new connections; every stream gets its last frame; publishes
 * under way get most of the time to finish, then the ones still running are cancelled — rolled
 * back and answered 503, never committed after their client was told they failed —; open
 * requests finish; the pool closes.
 */
async function shutDown(herald: Herald, server: RunningServer['server'], sql: Sql, limitMs: number) {
  const deadline = performance.now() + limitMs
  const left = () => Math.max(0, deadline - performance.now())
  // What is kept back at the end: answering the cancelled publishes, then closing the pool.
  const reserve = Math.min(1000, limitMs / 4)
  const closing = server.stop(false) // no new connections; open requests go on
  await within(herald.drain(), left() - reserve)
  herald.cutPublishes()
  await within(herald.drain(), left() - reserve / 2)
  await within(closing, left() - reserve / 2)
  await server.stop(true)
  await within(herald.stop(), left())
  // Nothing runs on the pool by now. A connection whose server went away while it sat idle (a
  // restart) may never report its socket closed: past the reserve it is dropped, not waited for.
  await sql.end({ timeout: Math.min(left(), reserve / 2) / 1000 })
}

/** Waits for `promise`, at most `ms`; leaves no timer behind. */
async function within(promise: Promise<unknown>, ms: number): Promise<void> {
  let timer: Timer | undefined
  await Promise.race([promise.catch(() => {}), new Promise((resolve) => (timer = setTimeout(resolve, Math.max(0, ms))))])
  clearTimeout(timer)
}
