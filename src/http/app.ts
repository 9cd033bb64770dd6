// The composition root: config and a pool in, a ready Herald out. It only wires: every rule lives
// in the module it belongs to. No globals, so tests can run several side by side.
import { Elysia, NotFoundError } from 'elysia'
import { configWarnings, type Config } from '../config'
import type { Log } from '../log'
import { createMetrics, NO_METRICS, VERSION, type Metrics } from '../metrics'
import { Errors, HeraldError, toResponse } from '../errors'
import { createAvailable, type Available } from '../locale'
import { createSignals, type Signals } from '../signals/signals'
import { alarmReads, knownLocales, rememberLocales } from '../store/alarms'
import { createChannels } from '../store/channels'
import { applicationNameOf, channelFor, currentPlace, isUnreachable, ping, type Sql } from '../store/db'
import { createPublisher, type Publisher } from '../store/publisher'
import { databaseStats } from '../store/stats'
import { createFetcher, type Fetcher } from '../stream/fetcher'
import { createLive, type Live } from '../stream/live'
import { shutdownFrame } from '../stream/render'
import { createAdmission } from './admission'
import { createAuth, type Auth } from './auth'
import { corsRoutes } from './cors'
import { checkHeaderSize } from './limits'
import { createNotAllowed } from './not-allowed'
import { alarmRoutes } from './routes/alarms'
import { browserRoutes } from './routes/browser'
import { connectionRoutes } from './routes/connection'
import { devRoutes } from './routes/dev'
import { docsRoutes } from './routes/docs'
import { healthRoutes } from './routes/health'
import { metricsRoutes } from './routes/metrics'

export type Herald = {
  app: Elysia<any, any, any, any, any, any, any>
  sql: Sql
  live: Live
  fetcher: Fetcher
  publisher: Publisher
  available: Available
  signals: Signals
  auth: Auth
  metrics: Metrics
  /**
   * Graceful end: every stream gets a last `retry:` spread over `retrySpreadMs` (so clients come
   * back elsewhere without a thundering herd). Resolves once the publishes under way are answered.
   */
  drain(retrySpreadMs?: [number, number]): Promise<void>
  /** Shutdown's deadline is near: publishes still running are cancelled (rolled back) and answered 503. */
  cutPublishes(): void
  stop(): Promise<void>
}

export type HeraldOptions = Config & {
  /** The SSE `retry:` a client waits before reconnecting after a network error. */
  retryMs?: number
  /** Overrides the LISTEN channel (tests use it to simulate lost notifications). */
  channel?: string
  /** How often Redis must answer a PING; a silent network is noticed after this long (tests shorten it). */
  redisPingMs?: number
  log?: Log
  /** This process's short id: its pool's application_name (server.ts), its name to other instances. */
  instance?: string
  /** What GET /metrics answers instead of this process's figures: a cluster worker's asks the supervisor for all. */
  metricsSource?: () => Promise<string>
}

export async function createHerald(sql: Sql, options: HeraldOptions): Promise<Herald> {
  const log = options.log ?? console
  const onError = (error: unknown) => log.error('herald: unexpected error:', error)
  const auth = await createAuth(options)
  for (const warning of configWarnings(options)) log.warn(`herald: ${warning}`)
  warnIfOpen(auth, options, log)

  const available = createAvailable(options.locales, {
    max: options.maxLocales,
    onLearn: (tags) => void rememberLocales(sql, tags).catch(onError),
  })
  if (!options.locales) available.add(await knownLocales(sql, options.maxLocales))
  const metrics = options.metricsMode === 'off' ? NO_METRICS : createMetrics({ available, defaultLocale: options.defaultLocale })
  const place = await currentPlace(sql)
  const live = createLive({ heartbeatMs: options.heartbeatMs, metrics })
  const signals = createSignals(createChannels(sql), live, {
    channel: channelFor(place.schema),
    listenChannel: options.channel,
    safetyPollMs: options.safetyPollMs,
    redisUrl: options.redisUrl,
    redisPrefix: options.redisPrefix ?? `herald:${place.database}:${place.schema}:`,
    redisPingMs: options.redisPingMs,
    log,
    instance: options.instance,
    onRedisReconnect: () => metrics.redisReconnected(),
  })
  await signals.start()
  const fetcher = createFetcher(alarmReads(sql), { onBatch: metrics.fetchBatch })
  const publisher = createPublisher(sql, { signals, lockTimeoutMs: options.lockTimeoutMs, onBatch: metrics.commitBatch })
  const admission = createAdmission({ ...options, auth, streams: () => live.size, metrics })
  const applicationName = applicationNameOf(options.instance)
  metrics.watch({
    backend: () => signals.backend,
    database: () => databaseStats(sql, applicationName),
    poolMax: sql.options.max,
    onError,
  })
  const streams = {
    live,
    fetcher,
    available,
    nextGeneration: (userId: string) => signals.nextGeneration(userId),
    defaultLocale: options.defaultLocale,
    retryMs: options.retryMs ?? 2000,
    onError,
    metrics,
  }

  const app = new Elysia()
  const notAllowed = createNotAllowed(() => app.routes)
  app
    .onRequest(({ request }) => checkHeaderSize(request))
    .use(corsRoutes(options.corsOrigins))
    .onError(({ error, request }) => {
      if (error instanceof HeraldError) return toResponse(error)
      if (error instanceof NotFoundError) return toResponse(notAllowed(request))
      if (isUnreachable(error)) return toResponse(Errors.unavailable())
      onError(error)
      return toResponse(Errors.internal())
    })
    .use(connectionRoutes(streams, admission))
    .use(alarmRoutes(publisher, available, admission, metrics))
    .use(healthRoutes({ ping: () => ping(sql), signals: () => signals.backend, onError }))
    .use(devRoutes(auth, options.devTokens))
    .use(metricsRoutes({ ...options, render: options.metricsSource ?? metrics.render, contentType: metrics.contentType }))
    .use(docsRoutes({ app: () => app, version: VERSION }))
    .use(
      browserRoutes({
        demo: options.demo,
        devTokens: options.devTokens,
        available,
        defaultLocale: options.defaultLocale,
        auth,
      }),
    )

  return {
    app,
    sql,
    live,
    fetcher,
    publisher,
    available,
    signals,
    auth,
    metrics,
    drain([min, max] = [1000, 5000]) {
      live.closeAll(() => shutdownFrame(min + Math.floor(Math.random() * (max - min))))
      return publisher.settled()
    },
    cutPublishes: () => publisher.cancel(),
    async stop() {
      live.stop()
      await signals.stop()
    },
  }
}

function warnIfOpen(auth: Auth, options: HeraldOptions, log: Pick<Log, 'warn'>) {
  if (auth.subscribers && auth.publishers) return
  const open = [!auth.subscribers && 'subscribers', !auth.publishers && 'publishers'].filter(Boolean).join(' and ')
  const why = options.authNone ? ' (HERALD_AUTH=none)' : ' (no secrets configured; development only)'
  log.warn(`herald: auth is OFF for ${open}${why}`)
}
