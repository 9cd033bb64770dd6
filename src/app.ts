// The composition root: config and a pool in, a ready Herald out. No globals, so tests can run
// several side by side.
import { Elysia } from 'elysia'
import { knownLocales } from './alarms'
import type { Config } from './config'
import { channelFor, currentSchema, type Sql } from './db'
import { Errors, HeraldError, toResponse } from './errors'
import { createFetcher, type Fetcher } from './fetcher'
import { createAvailable, type Available } from './locale'
import { createRegistry, type Registry } from './registry'
import { alarmRoutes } from './routes/alarms'
import { connectionRoutes } from './routes/connection'
import { healthRoutes } from './routes/health'
import type { StreamContext } from './stream'
import { createTicker } from './ticker'
import { createHub, createPgTransport, type Hub, type Transport } from './wake'

export type Herald = {
  app: Elysia<any, any, any, any, any, any, any>
  sql: Sql
  hub: Hub
  registry: Registry
  fetcher: Fetcher
  available: Available
  transport: Transport
  stop(): Promise<void>
}

export type HeraldOptions = Pick<Config, 'defaultLocale' | 'locales' | 'heartbeatMs' | 'safetyPollMs'> & {
  /** The SSE `retry:` a client waits before reconnecting after a network error. */
  retryMs?: number
  /** Overrides the LISTEN channel (tests use it to simulate lost notifications). */
  channel?: string
  log?: Pick<Console, 'error' | 'warn'>
}

export async function createHerald(sql: Sql, options: HeraldOptions): Promise<Herald> {
  const log = options.log ?? console
  const onError = (error: unknown) => log.error('herald:', error)
  const available = createAvailable(options.locales)
  if (!options.locales) available.add(await knownLocales(sql))
  const hub = createHub()
  const registry = createRegistry()
  const fetcher = createFetcher(sql)
  const ticker = createTicker(options.heartbeatMs)
  const transport = createPgTransport(sql, hub, {
    channel: options.channel ?? channelFor(await currentSchema(sql)),
    safetyPollMs: options.safetyPollMs,
    onError,
  })
  await transport.start()

  const streams: StreamContext = {
    registry,
    hub,
    fetcher,
    ticker,
    available,
    latestSeq: (userId) => fetcher.latest(userId),
    defaultLocale: options.defaultLocale,
    retryMs: options.retryMs ?? 2000,
    onError,
  }

  const app = new Elysia()
    .onError(({ code, error, request }) => {
      if (error instanceof HeraldError) return toResponse(error)
      if (code === 'NOT_FOUND') return toResponse(notFoundOrNotAllowed(request))
      if (isConnectionError(error)) return toResponse(Errors.unavailable('the database is unreachable; try again'))
      onError(error)
      return Response.json({ error: { code: 'INTERNAL', message: 'internal error' } }, { status: 500 })
    })
    .use(connectionRoutes(streams))
    .use(alarmRoutes(sql, available))
    .use(healthRoutes(sql))

  return {
    app,
    sql,
    hub,
    registry,
    fetcher,
    available,
    transport,
    async stop() {
      ticker.stop()
      await transport.stop()
    },
  }
}

/** Which method each path takes, so a wrong method is a 405 with `Allow`, not a 404. */
const ROUTES: [RegExp, string][] = [
  [/^\/connection\/[^/]+$/, 'GET'],
  [/^\/alarms$/, 'POST'],
  [/^\/health$/, 'GET'],
]

function notFoundOrNotAllowed(request: Request): HeraldError {
  const path = new URL(request.url).pathname
  const allowed = ROUTES.find(([pattern]) => pattern.test(path))?.[1]
  return allowed ? Errors.methodNotAllowed(request.method, path, allowed) : Errors.notFound(path)
}

const CONNECTION_CODES = new Set([
  'ECONNREFUSED',
  'ECONNRESET',
  'CONNECTION_CLOSED',
  'CONNECTION_ENDED',
  'CONNECTION_DESTROYED',
  'CONNECT_TIMEOUT',
  '57P01', // admin_shutdown
  '57P03', // cannot_connect_now
])

function isConnectionError(error: unknown): boolean {
  return typeof error === 'object' && error !== null && CONNECTION_CODES.has((error as { code?: string }).code ?? '')
}
