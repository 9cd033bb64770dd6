// The log's two formats, and the guard that keeps secrets out of every line.
import { describe, expect, test } from 'bun:test'
import { createLimitedLog, createLogger, formatFromEnv, REDACTED, type LoggerOptions } from '../src/log'
import { ConfigError, configSecrets, readConfig } from '../src/config'

function capture(options: LoggerOptions = {}) {
  const lines: { line: string; level: string }[] = []
  const log = createLogger({ now: () => new Date('2026-11-25T10:00:00.000Z'), ...options, write: (line, level) => void lines.push({ line, level }) })
  return { log, lines }
}

describe('the text format (the default)', () => {
  test('writes the message as given, info to stdout and warnings and errors to stderr, fields left out', () => {
    const { log, lines } = capture()
    log.log('herald: listening on http://127.0.0.1:3000', { url: 'http://127.0.0.1:3000' })
    log.warn('herald: auth is OFF for publishers', { code: 'X' })
    expect(lines).toEqual([
      { line: 'herald: listening on http://127.0.0.1:3000', level: 'info' },
      { line: 'herald: auth is OFF for publishers', level: 'warn' },
    ])
  })

  test("describes an error by its stack and code, never the driver's detail (it quotes the row)", () => {
    const { log, lines } = capture()
    const error = Object.assign(new Error('new row violates check constraint'), {
      code: '23514',
      constraint_name: 'alarm_messages_message_check',
      detail: 'Failing row contains (42, ko, a private message text)',
    })
    log.error('herald: unexpected error:', error)
    expect(lines[0]!.level).toBe('error')
    expect(lines[0]!.line).toStartWith('herald: unexpected error: Error: new row violates check constraint')
    expect(lines[0]!.line).toContain('code 23514, constraint alarm_messages_message_check')
    expect(lines[0]!.line).not.toContain('private message text')
  })
})

describe('HERALD_LOG=json', () => {
  test('one JSON object per line: time, level, msg (without the herald: prefix), the base and the line fields', () => {
    const { log, lines } = capture({ format: 'json', fields: { instance: 'ab12cd34', worker: undefined } })
    log.child({ worker: 2 }).warn('herald: instance ff00 cannot reach Redis', { peer: 'ff00' })
    expect(lines).toHaveLength(1)
    expect(lines[0]!.line).not.toContain('\n')
    expect(JSON.parse(lines[0]!.line)).toEqual({
      time: '2026-11-25T10:00:00.000Z',
      level: 'warn',
      msg: 'instance ff00 cannot reach Redis',
      instance: 'ab12cd34',
      worker: 2,
      peer: 'ff00',
    })
  })

  test('an error becomes an error field with its name, message, code and stack; its code is the line code', () => {
    const { log, lines } = capture({ format: 'json' })
    log.error('herald: unexpected error:', Object.assign(new Error('boom'), { code: 'ECONNRESET', detail: 'the row' }))
    const entry = JSON.parse(lines[0]!.line)
    expect(entry).toMatchObject({ level: 'error', msg: 'unexpected error: boom', code: 'ECONNRESET' })
    expect(entry.error).toMatchObject({ name: 'Error', message: 'boom', code: 'ECONNRESET' })
    expect(entry.error.stack).toContain('boom')
    expect(lines[0]!.line).not.toContain('the row')
  })

  test('fields passed to error are fields, and the error message ends the line message', () => {
    const { log, lines } = capture({ format: 'json' })
    log.error('herald: invalid configuration: PORT: bad', { variable: 'PORT' })
    log.error('herald:', new Error('what happened'))
    expect(JSON.parse(lines[0]!.line)).toMatchObject({ msg: 'invalid configuration: PORT: bad', variable: 'PORT' })
    expect(JSON.parse(lines[1]!.line).msg).toBe('what happened')
  })

  test('HERALD_LOG chooses the format; anything but text or json stops startup naming it', () => {
    expect(readConfig({}).logFormat).toBe('text')
    expect(readConfig({ HERALD_LOG: 'JSON' }).logFormat).toBe('json')
    expect(() => readConfig({ HERALD_LOG: 'yaml' })).toThrow(ConfigError)
    expect(formatFromEnv({ HERALD_LOG: ' json ' })).toBe('json')
    expect(formatFromEnv({ HERALD_LOG: 'yaml' })).toBe('text')
  })
})

describe('the guard on every line', () => {
  const secret = 'a-jwt-secret-that-is-at-least-32-bytes!'
  const key = 'publish-key-0123456789'

  test.each(['text', 'json'] as const)('(%s) scrubs configured secrets, URL passwords and JWTs', (format) => {
    const { log, lines } = capture({ format, secrets: [secret, key] })
    const jwt = 'eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJ0aWF6In0.c2lnbmF0dXJl'
    log.warn(`herald: ${secret} ${key} postgres://herald:hunter2@db:5432/x redis://:p%40ss@cache ${jwt}`)
    log.error('herald: failed', new Error(`connecting with ${key}`))
    const all = lines.map((l) => l.line).join('\n')
    for (const leaked of [secret, key, 'hunter2', 'p%40ss', jwt]) expect(all).not.toContain(leaked)
    expect(all).toContain(`postgres://herald:${REDACTED}@db:5432/x`)
    expect(all.split(REDACTED).length - 1).toBeGreaterThanOrEqual(6)
  })

  test('the secrets come from the configuration: the JWT secret, every publish key, the metrics token, URL passwords', () => {
    const config = readConfig({
      HERALD_JWT_SECRET: secret,
      HERALD_PUBLISH_KEYS: `${key},another-key-0123456789`,
      HERALD_METRICS_TOKEN: 'metrics-token-0123456789',
      DATABASE_URL: 'postgres://u:db%20pass@h/d',
      REDIS_URL: 'redis://:cache-pass@h',
    })
    expect(configSecrets(config).sort()).toEqual(
      [secret, key, 'another-key-0123456789', 'metrics-token-0123456789', 'db pass', 'cache-pass'].sort(),
    )
  })

  test('short words are never treated as secrets', () => {
    const { log, lines } = capture({ secrets: ['ok'] })
    log.log('herald: ok')
    expect(lines[0]!.line).toBe('herald: ok')
  })
})


function captureWarns() {
  const lines: string[] = []
  return { lines, log: { warn: (line: string) => void lines.push(line) } }
}

describe('the limited log', () => {
  test('writes up to perMinute lines of a kind a minute, then one line saying the rest are not logged', () => {
    const { lines, log } = captureWarns()
    const limited = createLimitedLog(log, { perMinute: 3, now: () => 0 })
    for (let i = 0; i < 50; i++) limited.warn('bodies cut off', `POST /alarms: cut off #${i}`)
    expect(lines).toEqual([
      'herald: POST /alarms: cut off #0',
      'herald: POST /alarms: cut off #1',
      'herald: POST /alarms: cut off #2',
      'herald: more than 3 bodies cut off in a minute; the rest of this minute\'s are not logged',
    ])
  })

  test("the next minute logs again and says how many of the last one's were left out", () => {
    const { lines, log } = captureWarns()
    let now = 0
    const limited = createLimitedLog(log, { perMinute: 1, now: () => now })
    for (let i = 0; i < 5; i++) limited.warn('bodies too large', `#${i}`)
    now = 59_999
    limited.warn('bodies too large', 'still the same minute')
    now = 60_000
    limited.warn('bodies too large', 'a new minute')
    limited.warn('bodies too large', 'over again')
    expect(lines).toEqual([
      'herald: #0',
      'herald: more than 1 bodies too large in a minute; the rest of this minute\'s are not logged',
      'herald: a new minute (and 5 more bodies too large before, not logged)',
      'herald: more than 1 bodies too large in a minute; the rest of this minute\'s are not logged',
    ])
  })

  test('kinds are counted apart: a flood of one does not silence another', () => {
    const { lines, log } = captureWarns()
    const limited = createLimitedLog(log, { perMinute: 1, now: () => 0 })
    for (let i = 0; i < 10; i++) limited.warn('bodies cut off', 'cut')
    limited.warn('bodies too slow', 'slow')
    expect(lines).toContain('herald: slow')
    expect(lines.length).toBe(3)
  })

  test('a line stays one line whatever it quotes: control characters are escaped', () => {
    const { lines, log } = captureWarns()
    const limited = createLimitedLog(log, { perMinute: 5, now: () => 0 })
    limited.warn('bodies cut off', 'GET /x\r\nherald: forged line\u0000\u001b[31m')
    expect(lines).toEqual(['herald: GET /x\\r\\nherald: forged line\\u0000\\u001b[31m'])
  })
})
