import { canonicalLocale } from './locale'

export type Config = Readonly<{
  databaseUrl: string | undefined
  port: number
  hostname: string
  defaultLocale: string
  locales: readonly string[] | undefined
  heartbeatMs: number
  safetyPollMs: number
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
  return Object.freeze({
    databaseUrl: nonEmpty(env.DATABASE_URL),
    port: integer(env, 'PORT', 3000, 0, 65535),
    hostname: nonEmpty(env.HOST) ?? '0.0.0.0',
    defaultLocale: locale(env, 'HERALD_DEFAULT_LOCALE', 'en'),
    locales: localeList(env, 'HERALD_LOCALES'),
    heartbeatMs: integer(env, 'HERALD_HEARTBEAT_MS', 15_000, 10, 3_600_000),
    safetyPollMs: integer(env, 'HERALD_SAFETY_POLL_MS', 60_000, 100, 86_400_000),
  })
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
