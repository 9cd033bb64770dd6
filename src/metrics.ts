// Herald's Prometheus metrics (prom-client): one registry per Herald, the named metric objects, and
// the small recording API the layers are handed (streams, admission, publisher, signals).
//
// Cost: recording is a counter or histogram child's arithmetic, done where the event happens
// (an open, a frame, a batch); nothing runs per idle stream, and a scrape reads counters, one
// getter and one database query (this pool's connections, the direct writers' alarms) — never
// anything per stream. With HERALD_METRICS=off every recorder is a no-op (NO_METRICS).
import { readFileSync } from 'node:fs'
import { AggregatorRegistry, Counter, Gauge, Histogram, Registry, type MetricObjectWithValues, type MetricValue } from 'prom-client'
import { boundedCache, canonicalLocale, chooseLocale, type Available } from './locale'

/** Why a stream ended. */
export type EndReason = 'superseded' | 'expired' | 'closed' | 'shutdown'
/** Why a request was refused before it did anything. */
export type RefusalReason = 'reconnect_rate' | 'publish_rate' | 'max_streams'
export type PublishPath = 'api' | 'sql'
/** Why an alarm left the database: DELETE (the API or a system's), its expiry, or retention's age. */
export type RemovalReason = 'deleted' | 'expired' | 'retention'

/**
 * What a delivered alarm tells the metrics: when it was written, in which languages (a template
 * alarm's are its template's).
 */
export type DeliveredRow = {
  readonly createdAt: string
  readonly locales: readonly string[]
  readonly template?: { readonly resolved?: { readonly locales: readonly string[] } }
}

/** What the stream layer records (through its context and the live owner). */
export type StreamMetrics = {
  opened(locale: string): void
  closed(locale: string): void
  ended(reason: EndReason): void
  /** A frame other than an alarm was sent: `ready`, `heartbeat`, … (new kinds need no change here). */
  frame(event: string): void
  /**
   * An alarm frame was sent: its lag (when the alarm was written after the stream opened, epoch ms
   * `openedAt`), and a fallback when it is not in the language the client asked for first.
   */
  delivered(row: DeliveredRow, preferred: readonly string[], requested: string | undefined, openedAt: number): void
}

/** What the database says at a scrape: this pool's connections, and direct writers' alarms since the last claim. */
export type DatabaseStats = { inUse: number; open: number; sqlAlarms: number }

export type MetricsSources = {
  /** What carries the signals now (signals.backend). */
  backend(): string
  database(): Promise<DatabaseStats>
  /** The pool's size: in use never goes above it. */
  poolMax: number
  onError(error: unknown): void
}

export type Metrics = StreamMetrics & {
  readonly enabled: boolean
  refused(reason: RefusalReason): void
  published(path: PublishPath, count?: number): void
  /** A POST /alarms was answered with `status` after `seconds`. */
  publishAnswered(status: number, seconds: number): void
  /** Alarms removed (by this instance). */
  removed(reason: RemovalReason, count: number): void
  fetchBatch(query: 'alarms' | 'latest', size: number): void
  commitBatch(lane: 'fast' | 'slow', size: number): void
  redisReconnected(): void
  /** Where scrape-time figures come from; set once the signals and the pool exist. */
  watch(sources: MetricsSources): void
  /** The Prometheus text of this process. */
  render(): Promise<string>
  /** The same figures as prom-client JSON: what a cluster worker hands its supervisor. */
  snapshot(): Promise<MetricObjectWithValues<MetricValue<string>>[]>
  readonly contentType: string
}

export type MetricsOptions = {
  available: Pick<Available, 'list'>
  defaultLocale: string
  /** How long a scrape waits for PostgreSQL before it reports herald_database_up 0. */
  databaseTimeoutMs?: number
}

const END_REASONS: EndReason[] = ['superseded', 'expired', 'closed', 'shutdown']
const REFUSAL_REASONS: RefusalReason[] = ['reconnect_rate', 'publish_rate', 'max_streams']
const REMOVAL_REASONS: RemovalReason[] = ['deleted', 'expired', 'retention']
/** The frames known today; a new kind (the inbox's) gets its label when first sent. */
const FRAME_EVENTS = ['ready', 'alarm', 'heartbeat', 'superseded', 'expired', 'shutdown']
const BACKENDS = ['postgres', 'redis', 'postgres (Redis unreachable)', 'postgres (another instance cannot reach Redis)']
const SECONDS = [0.001, 0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.2, 0.5, 1, 2, 5, 10, 30]
const SIZES = [1, 2, 5, 10, 20, 50, 100, 200, 500, 1000]
/** Distinct values a label fed by clients or data may take; the rest are `other`. */
const MAX_LABEL_VALUES = 100
const OTHER = 'other'

export function createMetrics({ available, defaultLocale, databaseTimeoutMs = 2000 }: MetricsOptions): Metrics {
  const registry = new Registry()
  const registers = [registry]
  let sources: MetricsSources | undefined

  const streamsOpen = new Gauge({ name: 'herald_streams_open', help: 'Streams open now, by negotiated locale (the available locales, else other).', labelNames: ['locale'], registers })
  const opens = new Counter({ name: 'herald_stream_opens_total', help: 'Streams opened.', registers })
  const ends = new Counter({ name: 'herald_stream_ends_total', help: 'Streams ended, by reason: superseded, expired (token), closed (by the client), shutdown.', labelNames: ['reason'], registers })
  const refusals = new Counter({ name: 'herald_refusals_total', help: 'Requests refused before doing anything, by reason: reconnect_rate, publish_rate (429), max_streams (503).', labelNames: ['reason'], registers })
  const frames = new Counter({ name: 'herald_frames_sent_total', help: 'Frames written to streams, by event (heartbeat: the comment).', labelNames: ['event'], registers })
  const lag = new Histogram({ name: 'herald_delivery_lag_seconds', help: "From an alarm's created_at (its transaction's start) to its frame written to a stream that was open then.", buckets: SECONDS, registers })
  const publishSeconds = new Histogram({ name: 'herald_publish_duration_seconds', help: 'POST /alarms, from the request to its answer, by HTTP status.', labelNames: ['status'], buckets: SECONDS, registers })
  const published = new Counter({ name: 'herald_alarms_published_total', help: 'Alarms stored, by path: api (POST /alarms, counted by the instance that stored it), sql (direct writers, claimed from the database at scrapes).', labelNames: ['path'], registers })
  const removed = new Counter({ name: 'herald_alarms_removed_total', help: 'Alarms deleted by this instance, by reason: deleted (DELETE /users/:userId/alarms/:id), expired (the sweep, past expires_at), retention (older than HERALD_RETENTION_DAYS).', labelNames: ['reason'], registers })
  const fallbacks = new Counter({ name: 'herald_locale_fallback_total', help: 'Alarms delivered in another language than the one the client asked for first, by requested and served language.', labelNames: ['requested', 'served'], registers })
  const fetchBatches = new Histogram({ name: 'herald_fetch_batch_size', help: "Streams served by one of the fetcher's queries, by query (alarms, latest).", labelNames: ['query'], buckets: SIZES, registers })
  const commitBatches = new Histogram({ name: 'herald_commit_batch_size', help: 'Alarms in one group-commit statement, by lane (fast, slow).', labelNames: ['lane'], buckets: SIZES, registers })
  const pool = new Gauge({ name: 'herald_db_pool_connections', help: "This process's pool connections by state (in_use, idle), from pg_stat_activity at the scrape.", labelNames: ['state'], registers })
  const poolMax = new Gauge({ name: 'herald_db_pool_max', help: "The pool's size.", registers })
  const databaseUp = new Gauge({ name: 'herald_database_up', help: '1 when PostgreSQL answered the scrape, else 0.', registers, aggregator: 'min' })
  const backend = new Gauge({ name: 'herald_signals_backend', help: 'What carries the signals: 1 for the backend in use (summed over a cluster: workers per backend).', labelNames: ['backend'], registers })
  const reconnects = new Counter({ name: 'herald_redis_reconnects_total', help: 'Times the Redis link came back after it was lost.', registers })
  const build = new Gauge({ name: 'herald_build_info', help: "Herald's version and the Bun it runs on.", labelNames: ['version', 'bun'], registers, aggregator: 'first' })
  const eventLoopLag = new Gauge({ name: 'nodejs_eventloop_lag_seconds', help: 'How long a setImmediate waited at the scrape.', registers, aggregator: 'max' })
  build.set({ version: VERSION, bun: Bun.version }, 1)
  // Every known label from the first scrape on, at 0: a rate() has a start, a panel a line.
  for (const path of ['api', 'sql']) published.inc({ path }, 0)
  for (const reason of END_REASONS) ends.inc({ reason }, 0)
  for (const reason of REFUSAL_REASONS) refusals.inc({ reason }, 0)
  for (const reason of REMOVAL_REASONS) removed.inc({ reason }, 0)
  for (const event of FRAME_EVENTS) frames.inc({ event }, 0)
  registerProcessMetrics(registry)

  // Children bound once: a hot path pays a property read and an addition, not a label hash.
  const frameOf = children(frames)
  const endOf = children(ends)
  const openOf = new Map<string, Gauge.Internal<'locale'>>()
  const localeLabel = stickyLabels((locale) => locale === defaultLocale || available.list.includes(locale))
  const requestedLabel = stickyLabels(() => true)
  const servedLabel = stickyLabels(() => true)
  const alarmFrames = frames.labels('alarm')

  function openGauge(locale: string) {
    let gauge = openOf.get(locale)
    if (!gauge) openOf.set(locale, (gauge = streamsOpen.labels(localeLabel(locale))))
    return gauge
  }

  async function refresh() {
    if (!sources) return
    for (const name of BACKENDS) backend.set({ backend: name }, 0)
    backend.set({ backend: sources.backend() }, 1)
    poolMax.set(sources.poolMax)
    try {
      const stats = await within(sources.database(), databaseTimeoutMs)
      pool.set({ state: 'in_use' }, stats.inUse)
      pool.set({ state: 'idle' }, Math.max(0, stats.open - stats.inUse))
      if (stats.sqlAlarms > 0) published.inc({ path: 'sql' }, stats.sqlAlarms)
      databaseUp.set(1)
    } catch (error) {
      databaseUp.set(0)
      sources.onError(error)
    }
    eventLoopLag.set(await loopDelay())
  }

  return {
    enabled: true,
    contentType: registry.contentType,
    opened(locale) {
      opens.inc()
      openGauge(locale).inc()
    },
    closed(locale) {
      openGauge(locale).dec()
    },
    ended: (reason) => endOf(reason).inc(),
    frame: (event) => frameOf(event).inc(),
    delivered(row, preferred, requested, openedAt) {
      alarmFrames.inc()
      const created = Date.parse(row.createdAt)
      if (created >= openedAt) lag.observe(Math.max(0, Date.now() - created) / 1000)
      const locales = row.template ? (row.template.resolved?.locales ?? []) : row.locales
      if (requested === undefined || locales.length === 0) return
      const served = servedLocale(locales, preferred, defaultLocale)
      const asked = languageOf(requested)
      const got = languageOf(served)
      if (asked !== got) fallbacks.inc({ requested: requestedLabel(asked), served: servedLabel(got) })
    },
    refused: (reason) => refusals.inc({ reason }),
    published: (path, count = 1) => published.inc({ path }, count),
    publishAnswered: (status, seconds) => publishSeconds.observe({ status: String(status) }, seconds),
    removed: (reason, count) => removed.inc({ reason }, count),
    fetchBatch: (query, size) => fetchBatches.observe({ query }, size),
    commitBatch: (lane, size) => commitBatches.observe({ lane }, size),
    redisReconnected: () => reconnects.inc(),
    watch(given) {
      sources = given
    },
    async render() {
      await refresh()
      return registry.metrics()
    },
    async snapshot() {
      await refresh()
      return registry.getMetricsAsJSON()
    },
  }
}

/** Every recorder a no-op: HERALD_METRICS=off, and what modules fall back to when given none. */
export const NO_METRICS: Metrics = {
  enabled: false,
  contentType: 'text/plain; version=0.0.4; charset=utf-8',
  opened() {},
  closed() {},
  ended() {},
  frame() {},
  delivered() {},
  refused() {},
  published() {},
  publishAnswered() {},
  removed() {},
  fetchBatch() {},
  commitBatch() {},
  redisReconnected() {},
  watch() {},
  render: async () => '',
  snapshot: async () => [],
}

/**
 * One text for a cluster: every worker's figures summed (gauges and counters alike, by each
 * metric's own aggregator: the database being up is the least of them, the build the first),
 * plus how many workers there are and how many answered.
 */
export async function aggregateMetrics(parts: MetricObjectWithValues<MetricValue<string>>[][], workers: number): Promise<string> {
  const registry = AggregatorRegistry.aggregate(parts)
  const cluster = new Gauge({ name: 'herald_cluster_workers', help: 'Workers of this cluster: running, and reporting (those whose figures are in this scrape).', labelNames: ['state'], registers: [registry] })
  cluster.set({ state: 'running' }, workers)
  cluster.set({ state: 'reporting' }, parts.length)
  return registry.metrics()
}

// ---------------------------------------------------------------- labels

function children<T extends string>(counter: Counter<T>) {
  const bound = new Map<string, Counter.Internal>()
  return (value: string) => {
    let child = bound.get(value)
    if (!child) bound.set(value, (child = counter.labels(value as never)))
    return child
  }
}

/**
 * A label value per input, decided once and kept (so a gauge goes down under the label it went up
 * under), at most MAX_LABEL_VALUES of them; `known` says which inputs may be their own value.
 */
function stickyLabels(known: (value: string) => boolean) {
  const labels = new Map<string, string>()
  let distinct = 0
  return (value: string): string => {
    let label = labels.get(value)
    if (label === undefined) {
      label = known(value) && distinct < MAX_LABEL_VALUES ? value : OTHER
      if (label !== OTHER) distinct++
      if (labels.size < MAX_LABEL_VALUES * 10) labels.set(value, label)
    }
    return label
  }
}

const languages = boundedCache<string>(1024, 64 * 1024)

/**
 * The language a tag names, with its script where it is not the language's usual one: `en-GB` and
 * `en-US` are both `en`, `ja-JP` is `ja`, `zh-TW` is `zh-Hant` (traditional, where `zh` means
 * simplified). A client given `en-US` for `en-GB` got its language; one given `zh-Hans` for
 * `zh-TW` did not.
 */
export function languageOf(tag: string): string {
  const hit = languages.get(tag)
  if (hit !== undefined) return hit
  let language = tag
  try {
    const locale = new Intl.Locale(tag)
    const script = locale.maximize().script
    const usual = new Intl.Locale(locale.language).maximize().script
    language = script && script !== usual ? `${locale.language}-${script}` : locale.language
  } catch {
    // Not a tag Intl reads: the tag is its own language.
  }
  languages.set(tag, language)
  return language
}

/** The locale an alarm is shown in for this stream (what render.ts chooses); stored locales may be a direct writer's `en-us`. */
function servedLocale(locales: readonly string[], preferred: readonly string[], defaultLocale: string): string {
  if (locales.includes(preferred[0]!)) return preferred[0]!
  return chooseLocale(locales.map((locale) => canonicalLocale(locale) ?? locale), preferred, defaultLocale)
}

// ---------------------------------------------------------------- process

/**
 * The process metrics that mean something on Bun, under prom-client's usual names. Not
 * collectDefaultMetrics: on Bun its heap-space, handle and request metrics read zero (V8 and
 * libuv internals Bun does not have), its GC histogram never fills (no `gc` performance entries),
 * `process_heap_bytes` and `process_virtual_memory_bytes` report the gigabytes Bun reserves, not
 * uses, and its event-loop histogram keeps a 10 ms timer running in an idle process.
 * `process_open_fds` is left out too: counting /proc/self/fd costs one entry per stream at every scrape.
 */
function registerProcessMetrics(registry: Registry) {
  const registers = [registry]
  let last = process.cpuUsage()
  const user = new Counter({ name: 'process_cpu_user_seconds_total', help: 'User CPU time spent in seconds.', registers })
  const system = new Counter({ name: 'process_cpu_system_seconds_total', help: 'System CPU time spent in seconds.', registers })
  new Counter({
    name: 'process_cpu_seconds_total',
    help: 'User and system CPU time spent in seconds.',
    registers,
    collect() {
      const now = process.cpuUsage()
      user.inc((now.user - last.user) / 1e6)
      system.inc((now.system - last.system) / 1e6)
      this.inc((now.user - last.user + now.system - last.system) / 1e6)
      last = now
    },
  })
  const started = new Gauge({ name: 'process_start_time_seconds', help: 'Start time of the process since the Unix epoch in seconds.', registers, aggregator: 'min' })
  started.set(Math.round((performance.timeOrigin) / 1000))
  new Gauge({
    name: 'process_resident_memory_bytes',
    help: 'Resident memory size in bytes.',
    registers,
    collect() {
      this.set(process.memoryUsage.rss())
    },
  })
  const maxFds = openFileLimit()
  if (maxFds !== undefined)
    new Gauge({ name: 'process_max_fds', help: 'Maximum number of open file descriptors.', registers }).set(maxFds)
  const heapTotal = new Gauge({ name: 'nodejs_heap_size_total_bytes', help: 'JavaScript heap size (JavaScriptCore on Bun) in bytes.', registers })
  const external = new Gauge({ name: 'nodejs_external_memory_bytes', help: 'Memory outside the JavaScript heap held by its objects, in bytes.', registers })
  new Gauge({
    name: 'nodejs_heap_size_used_bytes',
    help: 'JavaScript heap used in bytes.',
    registers,
    collect() {
      const memory = process.memoryUsage()
      heapTotal.set(memory.heapTotal)
      external.set(memory.external)
      this.set(memory.heapUsed)
    },
  })
}

/** The soft open-file limit, where /proc tells (Linux). */
function openFileLimit(): number | undefined {
  try {
    const line = readFileSync('/proc/self/limits', 'utf8').split('\n').find((l) => l.startsWith('Max open files'))
    const value = Number(line?.split(/\s{2,}/)[1])
    return Number.isFinite(value) ? value : undefined
  } catch {
    return undefined
  }
}

function loopDelay(): Promise<number> {
  const started = performance.now()
  return new Promise((resolve) => setImmediate(() => resolve((performance.now() - started) / 1000)))
}

/** Rejects once `ms` passed; leaves no timer behind. */
async function within<T>(promise: Promise<T>, ms: number): Promise<T> {
  let timer: Timer | undefined
  try {
    return await Promise.race([
      promise,
      new Promise<never>((_, reject) => (timer = setTimeout(() => reject(new Error(`PostgreSQL did not answer the scrape in ${ms} ms`)), ms))),
    ])
  } finally {
    clearTimeout(timer)
  }
}

/** Herald's version, from package.json. */
export const VERSION: string = (() => {
  try {
    return JSON.parse(readFileSync(new URL('../package.json', import.meta.url), 'utf8')).version
  } catch {
    return 'unknown'
  }
})()
