import { canonicalLocale } from './locale'
import { canonicalTimeZone } from './time-zone'
import type { LogFormat } from './log'

export type Config = Readonly<{
  databaseUrl: string | undefined
  port: number
  hostname: string
  defaultLocale: string
  /** The IANA zone template alarms show dates in when the stream names none. */
  defaultTimeZone: string
  locales: readonly string[] | undefined
  heartbeatMs: number
  safetyPollMs: number
  production: boolean
  /** NODE_ENV as given: startup warns about a value Herald does not know (`Production`). */
  nodeEnv: string | undefined
  /** HS256 secret for subscriber tokens. */
  jwtSecret: string | undefined
  /** PEM (SPKI) public key for ES256/RS256 subscriber tokens. */
  jwtPublicKey: string | undefined
  /** Bearer keys a publisher must present on POST /alarms. */
  publishKeys: readonly string[]
  /** HERALD_AUTH=none: run without auth on purpose, even in production. */
  authNone: boolean
  /** POST /dev/token mints a token for any user who asks (HERALD_DEV_TOKENS; npm run dev turns it on). */
  devTokens: boolean
  corsOrigins: readonly string[]
  /** Open streams per process; 0 = no cap beyond the OS's. */
  maxStreams: number
  reconnectBurst: number
  reconnectPerMinute: number
  /** POST /alarms per publisher per second; 0 = no limit. */
  publishRate: number
  /** Proxies in front of Herald whose X-Forwarded-For entries are believed (HERALD_TRUST_PROXY); 0 = none. */
  trustProxy: number
  shutdownMs: number
  /** How long a publish waits for its user's alarms held by another transaction (then 503 USER_BUSY). */
  lockTimeoutMs: number
  /** How many languages Herald learns from the data at most. */
  maxLocales: number
  /** Live devices (streams of distinct devices) a user may hold across all instances. */
  maxDevices: number
  /** Serve the demo page at `/` (npm run dev turns it on). */
  demo: boolean
  /** Processes serving one port (HERALD_WORKERS; `auto` = one per CPU). */
  workers: number
  /** Set in a worker of cluster mode: it shares the port with its siblings (reusePort). */
  worker: number | undefined
  /** Redis for generations and wake-ups between instances; without it, PostgreSQL carries them. */
  redisUrl: string | undefined
  /** Prefix of Herald's Redis keys and channels; default `herald:<database>:<schema>:`. */
  redisPrefix: string | undefined
  /**
   * GET /metrics: `on` (open in development, behind `metricsToken` when one is set, locked in
   * production without one), `public` (open on purpose, even in production), `off` (no route, nothing recorded).
   */
  metricsMode: MetricsMode
  /** The Bearer token a scraper must present on GET /metrics (HERALD_METRICS_TOKEN). */
  metricsToken: string | undefined
  /** `text` (human-readable, the default) or `json` (one object per line). */
  logFormat: LogFormat
  /** The furthest a publish may set its alarm's expiry, in seconds from now (HERALD_MAX_TTL). */
  maxTtlSeconds: number
  /** Alarms older than this many days are deleted (HERALD_RETENTION_DAYS); 0 = kept forever. */
  retentionDays: number
}>

export type MetricsMode = 'on' | 'public' | 'off'

export class ConfigError extends Error {
  constructor(
    readonly variable: string,
    message: string,
  ) {
    super(`${variable}: ${message}`)
    this.name = 'ConfigError'
  }
}

type Env = Record<string, string | undefined>

/** Reads the environment once. An invalid value throws a ConfigError that names the variable. */
export function readConfig(env: Env = process.env): Config {
  const config = Object.freeze({
    databaseUrl: nonEmpty(env.DATABASE_URL),
    port: integer(env, 'PORT', 3000, 0, 65535),
    hostname: nonEmpty(env.HOST) ?? '0.0.0.0',
    defaultLocale: locale(env, 'HERALD_DEFAULT_LOCALE', 'en'),
    defaultTimeZone: timeZone(env, 'HERALD_DEFAULT_TIME_ZONE', 'UTC'),
    locales: localeList(env, 'HERALD_LOCALES'),
    heartbeatMs: integer(env, 'HERALD_HEARTBEAT_MS', 15_000, 10, 3_600_000),
    safetyPollMs: integer(env, 'HERALD_SAFETY_POLL_MS', 60_000, 100, 86_400_000),
    production: env.NODE_ENV === 'production',
    nodeEnv: nonEmpty(env.NODE_ENV),
    jwtSecret: secret(env, 'HERALD_JWT_SECRET'),
    jwtPublicKey: publicKey(env, 'HERALD_JWT_PUBLIC_KEY'),
    publishKeys: list(env, 'HERALD_PUBLISH_KEYS', (key) => key.length >= 16, 'must be at least 16 characters'),
    authNone: authMode(env),
    devTokens: devTokens(env),
    corsOrigins: list(env, 'HERALD_CORS_ORIGINS', isOrigin, 'is not an origin like https://app.example.com'),
    maxStreams: integer(env, 'HERALD_MAX_STREAMS', 0, 0, 10_000_000),
    // Two tries for every device of a user at once, after a network drop, unless set.
    reconnectBurst: integer(env, 'HERALD_RECONNECT_BURST', 2 * integer(env, 'HERALD_MAX_DEVICES', 8, 1, 1000), 1, 10_000),
    reconnectPerMinute: integer(env, 'HERALD_RECONNECT_PER_MINUTE', 60, 1, 600_000),
    publishRate: integer(env, 'HERALD_PUBLISH_RATE', 1000, 0, 10_000_000),
    trustProxy: trustProxy(env),
    shutdownMs: integer(env, 'HERALD_SHUTDOWN_MS', 10_000, 100, 600_000),
    lockTimeoutMs: integer(env, 'HERALD_LOCK_TIMEOUT_MS', 5000, 10, 600_000),
    maxLocales: integer(env, 'HERALD_MAX_LOCALES', 1000, 1, 100_000),
    maxDevices: integer(env, 'HERALD_MAX_DEVICES', 8, 1, 1000),
    demo: flag(env, 'HERALD_DEMO'),
    workers: workers(env),
    worker: env.HERALD_WORKER === undefined ? undefined : integer(env, 'HERALD_WORKER', 0, 1, 1024),
    redisUrl: redisUrl(env),
    redisPrefix: nonEmpty(env.HERALD_REDIS_PREFIX),
    metricsMode: metricsMode(env),
    metricsToken: metricsToken(env),
    logFormat: logFormat(env),
    maxTtlSeconds: integer(env, 'HERALD_MAX_TTL', 365 * 86_400, 1, 100 * 365 * 86_400),
    retentionDays: integer(env, 'HERALD_RETENTION_DAYS', 365, 0, 100 * 365),
  })
  if (config.workers > 1 && config.port === 0 && config.worker === undefined)
    throw new ConfigError('PORT', 'HERALD_WORKERS > 1 needs a fixed PORT: the workers share it')
  requireAuthInProduction(config)
  return config
}

/** What no log line may show: the log scrubs these from every line, a guard behind the code that never passes them. */
export function configSecrets(config: Pick<Config, 'jwtSecret' | 'publishKeys' | 'metricsToken' | 'databaseUrl' | 'redisUrl'>): string[] {
  const passwords = [config.databaseUrl, config.redisUrl].map((url) => {
    try {
      return url ? decodeURIComponent(new URL(url).password) : ''
    } catch {
      return ''
    }
  })
  return [config.jwtSecret, ...config.publishKeys, config.metricsToken, ...passwords].filter((value): value is string => !!value)
}

/** The value that turns minting on where `1` is refused: it says what it does. */
export const ANYONE_CAN_MINT = 'anyone-can-mint'

const KNOWN_NODE_ENVS = new Set(['production', 'development', 'test'])

/**
 * What startup must say about a configuration that is allowed but dangerous, or likely a mistake.
 * Pure, so the wording is tested without a process.
 */
export function configWarnings(config: Pick<Config, 'nodeEnv' | 'devTokens' | 'jwtSecret'>): string[] {
  const warnings: string[] = []
  if (config.nodeEnv !== undefined && !KNOWN_NODE_ENVS.has(config.nodeEnv))
    warnings.push(
      `NODE_ENV='${config.nodeEnv}' is not production, development or test: running with the development ` +
        `rules (auth not required); only the exact, lowercase 'production' turns on the production ones`,
    )
  // Minting needs the HS256 secret: without it, /dev/token stays a 404 and there is nothing to say.
  if (config.devTokens && config.jwtSecret)
    warnings.push(
      'WARNING: POST /dev/token is ON (HERALD_DEV_TOKENS): anyone who can reach this server can mint a ' +
        "subscriber token for any user and read that user's alarms. Development only.",
    )
  return warnings
}

/** HERALD_METRICS: on (default), public, off. A token beside `public` or `off` is a contradiction, not a choice. */
function metricsMode(env: Env): MetricsMode {
  const raw = nonEmpty(env.HERALD_METRICS)
  const value = raw?.toLowerCase()
  let mode: MetricsMode
  if (value === undefined || value === 'on' || value === '1' || value === 'true') mode = 'on'
  else if (value === 'off' || value === '0' || value === 'false') mode = 'off'
  else if (value === 'public') mode = 'public'
  else throw new ConfigError('HERALD_METRICS', `'${raw}' is not on, off or public`)
  if (mode !== 'on' && nonEmpty(env.HERALD_METRICS_TOKEN) !== undefined)
    throw new ConfigError(
      'HERALD_METRICS',
      `is '${value}' but HERALD_METRICS_TOKEN is set: ${mode === 'off' ? 'metrics are off' : '/metrics is open to anyone'}; keep one of them`,
    )
  return mode
}

function metricsToken(env: Env): string | undefined {
  const value = nonEmpty(env.HERALD_METRICS_TOKEN)
  if (value !== undefined && value.length < 16) throw new ConfigError('HERALD_METRICS_TOKEN', 'must be at least 16 characters')
  if (value !== undefined && /\s/.test(value)) throw new ConfigError('HERALD_METRICS_TOKEN', 'must not contain spaces (it is sent as a Bearer token)')
  return value
}

function logFormat(env: Env): LogFormat {
  const raw = nonEmpty(env.HERALD_LOG)
  const value = raw?.toLowerCase()
  if (value === undefined || value === 'text') return 'text'
  if (value === 'json') return 'json'
  throw new ConfigError('HERALD_LOG', `'${raw}' is not text or json`)
}

/**
 * HERALD_DEV_TOKENS: off unless asked for. `1` is enough on a development server with open
 * publishing; once publish keys or production say the server is meant to be locked, a `1` left
 * over from development would open every stream to anyone, so only the value that spells that
 * out will do.
 */
function devTokens(env: Env): boolean {
  const raw = nonEmpty(env.HERALD_DEV_TOKENS)
  const value = raw?.toLowerCase()
  if (value === undefined || value === '0' || value === 'false' || value === 'off') return false
  if (value === ANYONE_CAN_MINT) return true
  if (value !== '1' && value !== 'true' && value !== 'on')
    throw new ConfigError('HERALD_DEV_TOKENS', `'${raw}' is not 0, 1, off, on or ${ANYONE_CAN_MINT}`)
  const locked = env.NODE_ENV === 'production'
    ? 'NODE_ENV=production'
    : nonEmpty(env.HERALD_PUBLISH_KEYS) ? 'HERALD_PUBLISH_KEYS set' : undefined
  if (locked)
    throw new ConfigError(
      'HERALD_DEV_TOKENS',
      `'${raw}' is not enough with ${locked}: /dev/token would let anyone mint a token for any user. ` +
        `Say HERALD_DEV_TOKENS=${ANYONE_CAN_MINT} if that is what you want, else leave it off`,
    )
  return true
}

/** In production, running open to anyone must be a decision, not an accident. */
function requireAuthInProduction(config: Config) {
  if (!config.production || config.authNone) return
  if (!config.jwtSecret && !config.jwtPublicKey)
    throw new ConfigError(
      'HERALD_JWT_SECRET',
      'NODE_ENV=production needs HERALD_JWT_SECRET or HERALD_JWT_PUBLIC_KEY (or HERALD_AUTH=none on purpose)',
    )
  if (config.publishKeys.length === 0)
    throw new ConfigError(
      'HERALD_PUBLISH_KEYS',
      'NODE_ENV=production needs at least one publish key (or HERALD_AUTH=none on purpose)',
    )
}

function secret(env: Env, name: string): string | undefined {
  const value = nonEmpty(env[name])
  if (value !== undefined && new TextEncoder().encode(value).length < 32)
    throw new ConfigError(name, 'must be at least 32 bytes (256 bits) for HS256')
  return value
}

function publicKey(env: Env, name: string): string | undefined {
  const value = nonEmpty(env[name])
  if (value !== undefined && !/^-----BEGIN PUBLIC KEY-----[\s\S]+-----END PUBLIC KEY-----$/.test(value))
    throw new ConfigError(name, 'must be a PEM public key (-----BEGIN PUBLIC KEY-----)')
  return value?.replace(/\\n/g, '\n')
}

/**
 * A count, not a yes: `true` means "believe the left-most X-Forwarded-For entry" in some servers,
 * and that one is whatever the client wrote.
 */
function trustProxy(env: Env): number {
  const raw = nonEmpty(env.HERALD_TRUST_PROXY)
  if (raw !== undefined && /^(true|yes|on)$/i.test(raw))
    throw new ConfigError(
      'HERALD_TRUST_PROXY',
      `'${raw}' is not a number: give how many proxies in front of Herald append to X-Forwarded-For (1 for one load balancer)`,
    )
  return integer(env, 'HERALD_TRUST_PROXY', 0, 0, 10)
}

function workers(env: Env): number {
  if (nonEmpty(env.HERALD_WORKERS)?.toLowerCase() === 'auto') return navigator.hardwareConcurrency
  return integer(env, 'HERALD_WORKERS', 1, 1, 256)
}

const REDIS_SCHEMES = new Set(['redis:', 'rediss:', 'valkey:', 'valkeys:'])

function redisUrl(env: Env): string | undefined {
  const raw = nonEmpty(env.REDIS_URL)
  if (raw === undefined) return undefined
  let url: URL
  try {
    url = new URL(raw)
  } catch {
    throw new ConfigError('REDIS_URL', 'is not a URL like redis://127.0.0.1:6379')
  }
  if (!REDIS_SCHEMES.has(url.protocol) || !url.hostname)
    throw new ConfigError('REDIS_URL', `'${url.protocol}//${url.host}' is not a URL like redis://127.0.0.1:6379`)
  return raw
}

function flag(env: Env, name: string): boolean {
  const value = nonEmpty(env[name])?.toLowerCase()
  if (value === undefined || value === '0' || value === 'false') return false
  if (value === '1' || value === 'true') return true
  throw new ConfigError(name, `'${value}' is not 1, 0, true or false`)
}

function authMode(env: Env): boolean {
  const value = nonEmpty(env.HERALD_AUTH)
  if (value === undefined) return false
  if (value !== 'none') throw new ConfigError('HERALD_AUTH', `'${value}' is not a mode: the only value is 'none'`)
  return true
}

function list(env: Env, name: string, valid: (item: string) => boolean, why: string): string[] {
  const raw = nonEmpty(env[name])
  if (raw === undefined) return []
  const items = raw.split(',').map((item) => item.trim()).filter(Boolean)
  for (const item of items) if (!valid(item)) throw new ConfigError(name, `an entry ${why}`)
  return [...new Set(items)]
}

function isOrigin(value: string): boolean {
  try {
    return new URL(value).origin === value
  } catch {
    return false
  }
}

function nonEmpty(value: string | undefined) {
  return value === undefined || value.trim() === '' ? undefined : value.trim()
}

function integer(env: Env, name: string, fallback: number, min: number, max: number): number {
  const raw = nonEmpty(env[name])
  if (raw === undefined) return fallback
  if (!/^\d+$/.test(raw)) throw new ConfigError(name, `'${raw}' is not a whole number`)
  const value = Number(raw)
  if (value < min || value > max)
    throw new ConfigError(name, `${value} is out of range (${min} to ${max})`)
  return value
}

function locale(env: Env, name: string, fallback: string): string {
  const raw = nonEmpty(env[name])
  if (raw === undefined) return fallback
  const tag = canonicalLocale(raw)
  if (!tag) throw new ConfigError(name, `'${raw}' is not a known BCP 47 language tag`)
  return tag
}

function timeZone(env: Env, name: string, fallback: string): string {
  const raw = nonEmpty(env[name])
  if (raw === undefined) return fallback
  const zone = canonicalTimeZone(raw)
  if (!zone) throw new ConfigError(name, `'${raw}' is not an IANA time zone name (like Asia/Seoul or UTC; an offset is not one)`)
  return zone
}

function localeList(env: Env, name: string): string[] | undefined {
  const raw = nonEmpty(env[name])
  if (raw === undefined) return undefined
  const tags = raw.split(',').map((part) => {
    const tag = canonicalLocale(part.trim())
    if (!tag) throw new ConfigError(name, `'${part.trim()}' is not a known BCP 47 language tag`)
    return tag
  })
  return [...new Set(tags)]
}
