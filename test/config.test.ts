import { describe, expect, test } from 'bun:test'
import { ConfigError, configWarnings, readConfig } from '../src/config'

describe('readConfig', () => {
  test('has working defaults', () => {
    const config = readConfig({})
    expect(config).toMatchObject({ port: 3000, defaultLocale: 'en', heartbeatMs: 15000, locales: undefined })
    expect(Object.isFrozen(config)).toBe(true)
  })

  test('expiry: at most a year ahead unless HERALD_MAX_TTL says; retention 365 days, 0 keeps everything', () => {
    expect(readConfig({})).toMatchObject({ maxTtlSeconds: 31_536_000, retentionDays: 365 })
    expect(readConfig({ HERALD_MAX_TTL: '3600', HERALD_RETENTION_DAYS: '0' })).toMatchObject({ maxTtlSeconds: 3600, retentionDays: 0 })
  })

  test('the demo page is off unless HERALD_DEMO turns it on', () => {
    expect(readConfig({}).demo).toBe(false)
    expect(readConfig({ HERALD_DEMO: '1' }).demo).toBe(true)
    expect(readConfig({ HERALD_DEMO: 'true' }).demo).toBe(true)
    expect(readConfig({ HERALD_DEMO: '0' }).demo).toBe(false)
  })

  test('reads and canonicalizes locales', () => {
    const config = readConfig({ HERALD_LOCALES: 'ko, en-us,ja', HERALD_DEFAULT_LOCALE: 'en-gb' })
    expect(config.locales).toEqual(['ko', 'en-US', 'ja'])
    expect(config.defaultLocale).toBe('en-GB')
  })

  test.each([
    ['PORT', 'abc'],
    ['PORT', '70000'],
    ['HERALD_HEARTBEAT_MS', '-5'],
    ['HERALD_HEARTBEAT_MS', '1.5'],
    ['HERALD_DEFAULT_LOCALE', 'US-en'],
    ['HERALD_LOCALES', 'ko,xx'],
    ['HERALD_SAFETY_POLL_MS', '5'],
    ['HERALD_DEMO', 'yes'],
    ['HERALD_DEV_TOKENS', 'yes'],
    ['HERALD_DEV_TOKENS', 'anyone'],
    ['HERALD_TRUST_PROXY', 'true'],
    ['HERALD_TRUST_PROXY', 'yes'],
    ['HERALD_TRUST_PROXY', '11'],
    ['HERALD_TRUST_PROXY', '10.0.0.1'],
    ['REDIS_URL', 'localhost:6379'],
    ['REDIS_URL', 'http://127.0.0.1:6379'],
    ['REDIS_URL', 'redis://'],
    ['HERALD_MAX_TTL', '0'],
    ['HERALD_MAX_TTL', '1y'],
    ['HERALD_RETENTION_DAYS', '-1'],
    ['HERALD_RETENTION_DAYS', '30d'],
  ])('an invalid %s (%j) names the variable', (variable, value) => {
    let error: unknown
    try {
      readConfig({ [variable]: value })
    } catch (e) {
      error = e
    }
    expect(error).toBeInstanceOf(ConfigError)
    expect((error as ConfigError).variable).toBe(variable)
    expect((error as ConfigError).message).toContain(variable)
  })

  test('Redis is off unless REDIS_URL names one; the prefix is optional', () => {
    expect(readConfig({})).toMatchObject({ redisUrl: undefined, redisPrefix: undefined })
    const config = readConfig({ REDIS_URL: 'redis://:secret@127.0.0.1:6380/2', HERALD_REDIS_PREFIX: 'app1:' })
    expect(config).toMatchObject({ redisUrl: 'redis://:secret@127.0.0.1:6380/2', redisPrefix: 'app1:' })
    expect(readConfig({ REDIS_URL: 'rediss://cache.internal' }).redisUrl).toBe('rediss://cache.internal')
  })

  test('a bad REDIS_URL is refused without echoing its password', () => {
    expect(() => readConfig({ REDIS_URL: 'http://user:hunter2@cache:6379' })).toThrow(/REDIS_URL/)
    expect(() => readConfig({ REDIS_URL: 'http://user:hunter2@cache:6379' })).not.toThrow(/hunter2/)
  })

  test('HERALD_TRUST_PROXY is a count of proxies, none by default; true is refused as ambiguous', () => {
    expect(readConfig({}).trustProxy).toBe(0)
    expect(readConfig({ HERALD_TRUST_PROXY: '1' }).trustProxy).toBe(1)
    expect(readConfig({ HERALD_TRUST_PROXY: '2' }).trustProxy).toBe(2)
    expect(() => readConfig({ HERALD_TRUST_PROXY: 'true' })).toThrow(/how many proxies/)
  })

  describe('HERALD_DEV_TOKENS', () => {
    const SECRET = 'a-test-secret-that-is-at-least-32-bytes-long'
    const KEYS = 'publisher-key-0123456789'
    const PRODUCTION = { NODE_ENV: 'production', HERALD_JWT_SECRET: SECRET, HERALD_PUBLISH_KEYS: KEYS }
    const refusal = (env: Record<string, string>) => {
      try {
        readConfig(env)
      } catch (e) {
        return e as ConfigError
      }
    }

    test('minting is off unless asked for, whatever NODE_ENV and the secrets say', () => {
      for (const NODE_ENV of [undefined, 'development', 'test', 'Production', 'prod'])
        expect(readConfig({ ...(NODE_ENV ? { NODE_ENV } : {}), HERALD_JWT_SECRET: SECRET, HERALD_PUBLISH_KEYS: KEYS }).devTokens).toBe(false)
      expect(readConfig({ HERALD_DEV_TOKENS: 'off' }).devTokens).toBe(false)
      expect(readConfig({ HERALD_DEV_TOKENS: '0' }).devTokens).toBe(false)
    })

    test('1 (or on, true) turns it on in development, with or without HERALD_JWT_SECRET', () => {
      for (const value of ['1', 'on', 'true', 'ON'])
        expect(readConfig({ HERALD_DEV_TOKENS: value, HERALD_JWT_SECRET: SECRET }).devTokens).toBe(true)
      expect(readConfig({ HERALD_DEV_TOKENS: '1' }).devTokens).toBe(true)
    })

    test.each([
      ['with HERALD_PUBLISH_KEYS set', { HERALD_JWT_SECRET: SECRET, HERALD_PUBLISH_KEYS: KEYS }, 'HERALD_PUBLISH_KEYS'],
      ['in production', PRODUCTION, 'NODE_ENV=production'],
    ])('1 is refused %s, naming the value that would do it', (_, env, why) => {
      const error = refusal({ ...env, HERALD_DEV_TOKENS: '1' })
      expect(error).toBeInstanceOf(ConfigError)
      expect(error!.variable).toBe('HERALD_DEV_TOKENS')
      expect(error!.message).toContain(why)
      expect(error!.message).toContain('HERALD_DEV_TOKENS=anyone-can-mint')
      expect(readConfig({ ...env, HERALD_DEV_TOKENS: 'anyone-can-mint' }).devTokens).toBe(true)
    })
  })

  describe('startup warnings', () => {
    const SECRET = 'a-test-secret-that-is-at-least-32-bytes-long'
    const warnings = (env: Record<string, string>) => configWarnings(readConfig(env))

    test.each(['Production', 'PRODUCTION', 'prod', 'staging'])('NODE_ENV=%s is named, with the rule that only lowercase production counts', (value) => {
      expect(warnings({ NODE_ENV: value })).toEqual([expect.stringContaining(`NODE_ENV='${value}' is not production, development or test`)])
      expect(warnings({ NODE_ENV: value })[0]).toContain("only the exact, lowercase 'production'")
    })

    test('the NODE_ENV values Herald knows, or none, say nothing', () => {
      for (const NODE_ENV of ['development', 'test', ''])
        expect(warnings({ NODE_ENV })).toEqual([])
      expect(warnings({ NODE_ENV: 'production', HERALD_AUTH: 'none' })).toEqual([])
      expect(warnings({})).toEqual([])
    })

    test('minting on says loudly that anyone can mint, once there is a secret to mint with', () => {
      expect(warnings({ HERALD_DEV_TOKENS: '1', HERALD_JWT_SECRET: SECRET })).toEqual([
        expect.stringMatching(/^WARNING: POST \/dev\/token is ON .*anyone .* any user/),
      ])
      expect(warnings({ HERALD_DEV_TOKENS: '1' })).toEqual([])
      expect(warnings({ HERALD_JWT_SECRET: SECRET })).toEqual([])
    })
  })
})
