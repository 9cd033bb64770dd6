import { describe, expect, test } from 'bun:test'
import { ConfigError, readConfig } from '../src/config'

describe('readConfig', () => {
  test('has working defaults', () => {
    const config = readConfig({})
    expect(config).toMatchObject({ port: 3000, defaultLocale: 'en', heartbeatMs: 15000, locales: undefined })
    expect(Object.isFrozen(config)).toBe(true)
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
    ['REDIS_URL', 'localhost:6379'],
    ['REDIS_URL', 'http://127.0.0.1:6379'],
    ['REDIS_URL', 'redis://'],
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
})
