import { describe, expect, test } from 'bun:test'
import { ConfigError, readConfig } from '../src/config'

describe('readConfig', () => {
  test('has working defaults', () => {
    const config = readConfig({})
    expect(config).toMatchObject({ port: 3000, defaultLocale: 'en', heartbeatMs: 15000, locales: undefined })
    expect(Object.isFrozen(config)).toBe(true)
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
})
