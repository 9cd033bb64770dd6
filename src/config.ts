import { canonicalLocale } from './locale'

export type Config = Readonly<{
  databaseUrl: string | undefined
  port: number
  hostname: string
  defaultLocale: string
  locales: readonly string[] | undefined
  heartbeatMs: number
  safetyPollMs: number
  production: boolean
  /** HS256 secret for subscriber tokens. */
  jwtSecret: string | undefined
  /** PEM (SPKI) public key for ES256/RS256 subscriber tokens. */
  jwtPublicKey: string | undefined
  /** Bearer keys a publisher must present on POST /alarms. */
  publishKeys: readonly string[]
  /** HERALD_AUTH=none: run without auth on purpose, even in production. */
  authNone: boolean
  corsOrigins: readonly string[]
  /** Open streams per process; 0 = no cap beyond the OS's. */
  maxStreams: number
  reconnectBurst: number
  reconnectPerMinute: number
  /** POST /alarms per publisher per second; 0 = no limit. */
  publishRate: number
  shutdownMs: number
  /** How long a publish waits for its user's alarms held by another transaction (then 503 USER_BUSY). */
  lockTimeoutMs: number
  /** How many languages Herald learns from the data at most. */
  maxLocales: number
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
}>

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
    locales: localeList(env, 'HERALD_LOCALES'),
    heartbeatMs: integer(env, 'HERALD_HEARTBEAT_MS', 15_000, 10, 3_600_000),
    safetyPollMs: integer(env, 'HERALD_SAFETY_POLL_MS', 60_000, 100, 86_400_000),
    production: env.NODE_ENV === 'production',
    jwtSecret: secret(env, 'HERALD_JWT_SECRET'),
    jwtPublicKey: publicKey(env, 'HERALD_JWT_PUBLIC_KEY'),
    publishKeys: list(env, 'HERALD_PUBLISH_KEYS', (key) => key.length >= 16, 'must be at least 16 characters'),
    authNone: authMode(env),
    corsOrigins: list(env, 'HERALD_CORS_ORIGINS', isOrigin, 'is not an origin like https://app.example.com'),
    maxStreams: integer(env, 'HERALD_MAX_STREAMS', 0, 0, 10_000_000),
    reconnectBurst: integer(env, 'HERALD_RECONNECT_BURST', 10, 1, 10_000),
    reconnectPerMinute: integer(env, 'HERALD_RECONNECT_PER_MINUTE', 60, 1, 600_000),
    publishRate: integer(env, 'HERALD_PUBLISH_RATE', 1000, 0, 10_000_000),
    shutdownMs: integer(env, 'HERALD_SHUTDOWN_MS', 10_000, 100, 600_000),
    lockTimeoutMs: integer(env, 'HERALD_LOCK_TIMEOUT_MS', 5000, 10, 600_000),
    maxLocales: integer(env, 'HERALD_MAX_LOCALES', 1000, 1, 100_000),
    demo: flag(env, 'HERALD_DEMO'),
    workers: workers(env),
    worker: env.HERALD_WORKER === undefined ? undefined : integer(env, 'HERALD_WORKER', 0, 1, 1024),
    redisUrl: redisUrl(env),
    redisPrefix: nonEmpty(env.HERALD_REDIS_PREFIX),
  })
  if (config.workers > 1 && config.port === 0 && config.worker === undefined)
    throw new ConfigError('PORT', 'HERALD_WORKERS > 1 needs a fixed PORT: the workers share it')
  requireAuthInProduction(config)
  return config
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
