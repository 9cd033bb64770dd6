// The composition root: config and a pool in, a ready Herald out. It only wires: every rule lives
// in the module it belongs to. No globals, so tests can run several side by side.
import { Elysia, NotFoundError } from 'elysia'
import { configWarnings, type Config } from '../config'
import type { Log } from '../log'
import { createMetrics, NO_METRICS, VERSION, type Metrics } from '../metrics'
import { Errors, HeraldError, toResponse } from '../errors'
import { createAvailable, type Available } from '../locale'
import { createLimitedLog } from '../log'
import { createSignals, type Signals } from '../signals/signals'
import { knownLocales, logReads, rememberLocales } from '../store/alarms'
import { loadTemplates, templateStore } from '../store/templates'
import { createCatalogue, type Catalogue } from '../templates/catalogue'
import { createChannels } from '../store/channels'
import { createPgPresence } from '../store/presence'
import { applicationNameOf, channelFor, currentPlace, isUnreachable, ping, type Sql } from '../store/db'
import { createInbox, type Inbox } from '../store/inbox'
import { createPublisher, type Publisher } from '../store/publisher'
import { createBulkPublisher } from '../store/bulk'
import { startSweeper, type Sweeper } from '../store/retention'
import { databaseStats } from '../store/stats'
import { createFetcher, type Fetcher } from '../stream/fetcher'
import { createLive, type Live } from '../stream/live'
import { shutdownFrame } from '../stream/render'
import { createAdmission } from './admission'
import { createPublishing } from './publishing'
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
import { inboxRoutes } from './routes/inbox'
import { metricsRoutes } from './routes/metrics'
import { presenceRoutes } from './routes/presence'
import { createTemplateService, templateRoutes } from './routes/templates'
import { seedDemoTemplates } from './demo-templates'

export type Herald = {
  app: Elysia<any, any, any, any, any, any, any>
  sql: Sql
  live: Live
  fetcher: Fetcher
  publisher: Publisher
  inbox: Inbox
  available: Available
  signals: Signals
  auth: Auth
  /** This process's copy of the template catalogue. */
  templates: Catalogue
  metrics: Metrics
  /** Whether a route of `app.routes` is a 405 that not-allowed.ts registered, not an operation. */
  isRefusal(method: string, path: string): boolean
  /** The expiry and retention job (tests run a turn of it). */
  sweeper: Sweeper
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
  /** How long a request body may take to arrive (tests shorten it). */
  bodyTimeoutMs?: number
  log?: Log
  /** This process's short id: its pool's application_name (server.ts), its name to other instances. */
  instance?: string
  /** What GET /metrics answers instead of this process's figures: a cluster worker's asks the supervisor for all. */
  metricsSource?: () => Promise<string>
}

export async function createHerald(sql: Sql, options: HeraldOptions): Promise<Herald> {
  const log = options.log ?? console
  const onError = (error: unknown) => log.error('herald: unexpected error:', error)
  const clientLog = createLimitedLog(log)
  const auth = await createAuth(options)
  for (const warning of configWarnings(options)) log.warn(`herald: ${warning}`)
  warnIfOpen(auth, options, log)

  const available = createAvailable(options.locales, {
    max: options.maxLocales,
    onLearn: (tags) => void rememberLocales(sql, tags).catch(onError),
  })
  if (!options.locales) available.add(await knownLocales(sql, options.maxLocales))
  const place = await currentPlace(sql)
  const metrics = options.metricsMode === 'off' ? NO_METRICS : createMetrics({ available, defaultLocale: options.defaultLocale })
  const live = createLive({ heartbeatMs: options.heartbeatMs, metrics })
  const instance = options.instance ?? crypto.randomUUID().slice(0, 8)
  const templates = createCatalogue((keys) => loadTemplates(sql, keys))
  const signals = createSignals(createChannels(sql), live, {
    instance,
    pgPresence: createPgPresence(sql),
    maxDevices: options.maxDevices,
    heartbeatMs: options.heartbeatMs,
    channel: channelFor(place.schema),
    listenChannel: options.channel,
    safetyPollMs: options.safetyPollMs,
    redisUrl: options.redisUrl,
    redisPrefix: options.redisPrefix ?? `herald:${place.database}:${place.schema}:`,
    redisPingMs: options.redisPingMs,
    templates,
    onRedisReconnect: () => metrics.redisReconnected(),
    log,
  })
  await signals.start()
  const sweeper = startSweeper(sql, {
    retentionDays: options.retentionDays,
    onRemoved: metrics.removed,
    onReport: (removed) =>
      log.log(
        `herald: retention: removed ${removed.expired} expired alarms, ${removed.retention} alarms and ${removed.events} ` +
          `log events older than ${options.retentionDays} days`,
        removed,
      ),
    onError,
  })
  // A stream's read may be of a direct writer's alarm that expires: the sweeper looks within a minute.
  const onFetch = (query: 'alarms' | 'latest', size: number) => {
    metrics.fetchBatch(query, size)
    sweeper.touched()
  }
  const fetcher = createFetcher(logReads(sql), { resolve: templates.resolve, onBatch: onFetch })
  // A publish's own streams here are handed its alarm at commit; the wake-up still goes to everyone.
  const publisher = createPublisher(sql, { signals, lockTimeoutMs: options.lockTimeoutMs, onBatch: metrics.commitBatch, onCommitted: live.handOff })
  const bulk = createBulkPublisher(sql, { signals, lockTimeoutMs: options.lockTimeoutMs })
  const inbox = createInbox(sql, { announcer: signals, lockTimeoutMs: options.lockTimeoutMs })
  const admission = createAdmission({ ...options, auth, streams: () => live.size, metrics })
  const applicationName = applicationNameOf(options.instance)
  metrics.watch({
    backend: () => signals.backend,
    database: () => databaseStats(sql, applicationName),
    poolMax: sql.options.max,
    onError,
  })
  const catalogueStore = templateStore(sql)
  const templateService = createTemplateService({ store: catalogueStore, available, catalogue: templates, signals })
  if (options.demo) await seedDemoTemplates(catalogueStore, templateService)
  const streams = {
    live,
    fetcher,
    available,
    nextGeneration: (key: string) => signals.nextGeneration(key),
    presence: signals.presence,
    defaultLocale: options.defaultLocale,
    retryMs: options.retryMs ?? 2000,
    onError,
    metrics,
  }

  // What Bun's router matches nowhere (a stray, see not-allowed.ts) is marked and answered 404 or
  // a CORS preflight, never by Elysia's own router on request.url's rewrite of its path.
  const strays = new WeakSet<Request>()
  const stray = (request: Request): Response | Promise<Response> => {
    strays.add(request)
    return app.fetch(request)
  }
  const app = new Elysia({ serve: { routes: { '/*': stray } } })
  const notAllowed = createNotAllowed(() => app.routes)
  app
    .onRequest(({ request }) => checkHeaderSize(request))
    .use(corsRoutes(options.corsOrigins))
    .onRequest(({ request }) => {
      if (strays.has(request)) throw notAllowed.stray(request)
    })
    .onError(({ error, request, server }) => {
      if (error instanceof HeraldError) {
        if (error.log) clientLog.warn(error.log, describeFault(error, request, server?.requestIP(request)?.address))
        return toResponse(error)
      }
      if (error instanceof NotFoundError) return toResponse(notAllowed.answer(request))
      if (isUnreachable(error)) return toResponse(Errors.unavailable())
      onError(error)
      return toResponse(Errors.internal())
    })
    .use(connectionRoutes(streams, admission, auth, { defaultTimeZone: options.defaultTimeZone }))
    .use(
      alarmRoutes({
        publishing: createPublishing({ publisher, bulk, available, templates, metrics, expiring: sweeper.expiring }),
        admission,
        body: { timeoutMs: options.bodyTimeoutMs },
        rules: { maxTtlSeconds: options.maxTtlSeconds },
        metrics,
      }),
    )
    .use(templateRoutes({ service: templateService, store: catalogueStore, available, admission }))
    .use(
      inboxRoutes({
        inbox,
        available,
        defaultLocale: options.defaultLocale,
        defaultTimeZone: options.defaultTimeZone,
        templates,
        admission,
        metrics,
      }),
    )
    .use(presenceRoutes({ presence: signals.presence, admission }))
    .use(healthRoutes({ ping: () => ping(sql), signals: () => signals.backend, onError }))
    .use(devRoutes(auth, options.devTokens))
    .use(metricsRoutes({ ...options, render: options.metricsSource ?? metrics.render, contentType: metrics.contentType }))
    .use(docsRoutes({ app: () => app, isRefusal: notAllowed.isRefusal, version: VERSION }))
    .use(
      browserRoutes({
        demo: options.demo,
        devTokens: options.devTokens,
        available,
        defaultLocale: options.defaultLocale,
        auth,
      }),
    )
  notAllowed.refuseOtherMethods((method, path, refuse) => {
    const handler = ({ request }: { request: Request }) => {
      throw refuse(request)
    }
    app.route(method, path, handler, { parse: 'none' })
  })

  return {
    app,
    sql,
    live,
    fetcher,
    publisher,
    inbox,
    available,
    signals,
    auth,
    templates,
    metrics,
    isRefusal: notAllowed.isRefusal,
    sweeper,
    drain([min, max] = [1000, 5000]) {
      live.closeAll(() => shutdownFrame(min + Math.floor(Math.random() * (max - min))))
      return Promise.all([publisher.settled(), bulk.settled()]).then(() => {})
    },
    cutPublishes() {
      publisher.cancel()
      bulk.cancel()
    },
    async stop() {
      await sweeper.stop()
      live.stop()
      await signals.stop()
    },
  }
}

/** One line: what the client did, where, from where. */
function describeFault(error: HeraldError, request: Request, address: string | undefined): string {
  return `${request.method} ${new URL(request.url).pathname}${address ? ` from ${address}` : ''}: ${error.message}`
}

function warnIfOpen(auth: Auth, options: HeraldOptions, log: Pick<Log, 'warn'>) {
  if (auth.subscribers && auth.publishers) return
  const open = [!auth.subscribers && 'subscribers', !auth.publishers && 'publishers'].filter(Boolean).join(' and ')
  const why = options.authNone ? ' (HERALD_AUTH=none)' : ' (no secrets configured; development only)'
  log.warn(`herald: auth is OFF for ${open}${why}`)
}
