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
