// The composition root: config and a pool in, a ready Herald out. No globals, so tests can run
// several side by side.
import { Elysia } from 'elysia'
import { knownLocales } from '../store/alarms'
import { createAuth, type Auth } from './auth'
import { checkHeaderSize, createBuckets, LimitErrors } from './limits'
import { shutdownFrame } from '../stream/render'
import { browserRoutes } from './routes/browser'
import { corsRoutes } from './cors'
import { devRoutes } from './routes/dev'
import type { Config } from '../config'
import { channelFor, currentPlace, type Sql } from '../store/db'
import { Errors, HeraldError, toResponse } from '../errors'
import { createFetcher, type Fetcher } from '../stream/fetcher'
import { createPublisher, type Publisher } from '../store/publisher'
import { createAvailable, type Available } from '../locale'
import { createRegistry, type Registry } from '../stream/registry'
import { alarmRoutes, type PublishGate } from './routes/alarms'
import { connectionRoutes, type Admission } from './routes/connection'
import { healthRoutes } from './routes/health'
import type { StreamContext } from '../stream/stream'
import { createTicker } from '../stream/ticker'
import { createSignals, type Signals } from '../signals/signals'
import { createHub, type Hub } from '../signals/wake'

export type Herald = {
  app: Elysia<any, any, any, any, any, any, any>
  sql: Sql
  hub: Hub
  registry: Registry
  fetcher: Fetcher
  publisher: Publisher
  available: Available
  signals: Signals
  auth: Auth
  /**
   * Graceful end: every stream gets a last `retry:` spread over `retrySpreadMs` (so clients come
   * back elsewhere without a thundering herd), then in-flight publishes are awaited.
   */
  drain(retrySpreadMs?: [number, number]): Promise<void>
  stop(): Promise<void>
}

type SecurityOptions = Pick<
  Config,
  | 'production'
  | 'jwtSecret'
  | 'jwtPublicKey'
  | 'publishKeys'
  | 'authNone'
  | 'corsOrigins'
  | 'maxStreams'
  | 'reconnectBurst'
  | 'reconnectPerMinute'
  | 'publishRate'
>

const OPEN: SecurityOptions = {
  production: false,
  jwtSecret: undefined,
  jwtPublicKey: undefined,
  publishKeys: [],
  authNone: false,
  corsOrigins: [],
  maxStreams: 0,
  reconnectBurst: 10,
  reconnectPerMinute: 60,
  publishRate: 1000,
}

export type HeraldOptions = Pick<Config, 'defaultLocale' | 'locales' | 'heartbeatMs' | 'safetyPollMs'> &
  Partial<Pick<Config, 'redisUrl' | 'redisPrefix'>> &
  Partial<SecurityOptions> & {
  /** The SSE `retry:` a client waits before reconnecting after a network error. */
  retryMs?: number
  /** Serve the demo page at `/` (the client library at `/client.js` is always served). */
  demo?: boolean
  /** Overrides the LISTEN channel (tests use it to simulate lost notifications). */
  channel?: string
  /** How often Redis must answer a PING; a silent network is noticed after this long (tests shorten it). */
  redisPingMs?: number
  log?: Pick<Console, 'error' | 'warn'>
}

export async function createHerald(sql: Sql, heraldOptions: HeraldOptions): Promise<Herald> {
  const options = { ...OPEN, ...heraldOptions }
  const log = options.log ?? console
  const auth = await createAuth(options)
  if (!auth.subscribers || !auth.publishers)
    log.warn(
      `herald: auth is OFF for ${[!auth.subscribers && 'subscribers', !auth.publishers && 'publishers'].filter(Boolean).join(' and ')}` +
        (options.authNone ? ' (HERALD_AUTH=none)' : ' (no secrets configured; development only)'),
    )
  const onError = (error: unknown) => log.error('herald:', error)
  const available = createAvailable(options.locales)
  if (!options.locales) available.add(await knownLocales(sql))
  const hub = createHub()
  const registry = createRegistry()
  const fetcher = createFetcher(sql)
  const ticker = createTicker(options.heartbeatMs)
  const place = await currentPlace(sql)
  const signals = createSignals(sql, hub, registry, {
    channel: channelFor(place.schema),
    listenChannel: options.channel,
    safetyPollMs: options.safetyPollMs,
    redisUrl: options.redisUrl,
    redisPrefix: options.redisPrefix ?? `herald:${place.database}:${place.schema}:`,
    redisPingMs: options.redisPingMs,
    log,
  })
  await signals.start()
  const publisher = createPublisher(sql, { signals })

  const streams: StreamContext = {
    registry,
    hub,
    fetcher,
    ticker,
    available,
    latestSeq: (userId) => fetcher.latest(userId),
    nextGeneration: (userId) => signals.nextGeneration(userId),
    defaultLocale: options.defaultLocale,
    retryMs: options.retryMs ?? 2000,
    onError,
    live: new Set(),
  }
  const publishing = new Set<Promise<unknown>>()
  const reconnects = createBuckets({
    capacity: options.reconnectBurst,
    perSecond: options.reconnectPerMinute / 60,
  })
  const publishes = options.publishRate > 0 ? createBuckets({ capacity: options.publishRate, perSecond: options.publishRate }) : undefined

  const admit: Admission = async (request, url, userId) => {
    const subscriber = await auth.verifySubscriber(request, url, userId)
    if (options.maxStreams > 0 && hub.size >= options.maxStreams) throw LimitErrors.tooManyStreams(options.maxStreams)
    const wait = reconnects.take(userId)
    if (wait > 0) throw LimitErrors.rateLimited('connections for this user', wait)
    return subscriber
  }

  const gatePublish: PublishGate = (request) => {
    const publisher = auth.verifyPublisher(request)
    const wait = publishes?.take(publisher) ?? 0
    if (wait > 0) throw LimitErrors.rateLimited('publishes', wait)
  }

  const app = new Elysia()
    .onRequest(({ request }) => checkHeaderSize(request))
    .use(corsRoutes(options.corsOrigins))
    .onError(({ code, error, request }) => {
      if (error instanceof HeraldError) return toResponse(error)
      if (code === 'NOT_FOUND') return toResponse(notFoundOrNotAllowed(request))
      if (isConnectionError(error)) return toResponse(Errors.unavailable('the database is unreachable; try again'))
      onError(error)
      return Response.json({ error: { code: 'INTERNAL', message: 'internal error' } }, { status: 500 })
    })
    .use(connectionRoutes(streams, admit))
    .use(alarmRoutes(publisher, available, gatePublish, publishing))
    .use(healthRoutes(sql, () => signals.backend))
    .use(devRoutes(auth, options.production))
    .use(
      browserRoutes({
        demo: options.demo ?? false,
        production: options.production,
        available,
        defaultLocale: options.defaultLocale,
        auth,
      }),
    )

  return {
    app,
    sql,
    hub,
    registry,
    fetcher,
    publisher,
    available,
    signals,
    auth,
    async drain([min, max] = [1000, 5000]) {
      for (const stream of [...streams.live]) stream.close(shutdownFrame(min + Math.floor(Math.random() * (max - min))))
      await Promise.allSettled([...publishing])
    },
    async stop() {
      ticker.stop()
      await signals.stop()
    },
  }
}

/** Which method each path takes, so a wrong method is a 405 with `Allow`, not a 404. */
const ROUTES: [RegExp, string][] = [
  [/^\/connection\/[^/]+$/, 'GET'],
  [/^\/alarms$/, 'POST'],
  [/^\/health$/, 'GET'],
  [/^\/dev\/token$/, 'POST'],
  [/^\/$/, 'GET'],
  [/^\/client\.(js|d\.ts)$/, 'GET'],
  [/^\/demo\.(css|js)$/, 'GET'],
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
