import { describe, expect, test } from 'bun:test'
import { createLimitedLog } from '../src/log'

function capture() {
  const lines: string[] = []
  return { lines, log: { warn: (line: string) => void lines.push(line) } }
}

describe('the limited log', () => {
  test('writes up to perMinute lines of a kind a minute, then one line saying the rest are not logged', () => {
    const { lines, log } = capture()
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
    const { lines, log } = capture()
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
    const { lines, log } = capture()
    const limited = createLimitedLog(log, { perMinute: 1, now: () => 0 })
    for (let i = 0; i < 10; i++) limited.warn('bodies cut off', 'cut')
    limited.warn('bodies too slow', 'slow')
    expect(lines).toContain('herald: slow')
    expect(lines.length).toBe(3)
  })

  test('a line stays one line whatever it quotes: control characters are escaped', () => {
    const { lines, log } = capture()
    const limited = createLimitedLog(log, { perMinute: 5, now: () => 0 })
    limited.warn('bodies cut off', 'GET /x\r\nherald: forged line\u0000\u001b[31m')
    expect(lines).toEqual(['herald: GET /x\\r\\nherald: forged line\\u0000\\u001b[31m'])
  })
})
