import { describe, expect, test } from 'bun:test'
import { createRegistry, type Holder } from '../src/stream/registry'

const holder = (key: string, superseded: () => unknown = () => {}): Holder => ({ key, generation: 0, superseded: () => void superseded() })

describe('registry', () => {
  test('a newer claim supersedes the older one at once and gets a higher generation', () => {
    const registry = createRegistry()
    const ended: string[] = []
    const first = registry.claim(holder('u', () => ended.push('first')))
    const second = registry.claim(holder('u', () => ended.push('second')))
    expect(ended).toEqual(['first'])
    expect(second).toBeGreaterThan(first)
    expect(registry.generationOf('u')).toBe(second)
  })

  test('releasing an old holder does not drop the newer one', () => {
    const registry = createRegistry()
    const first = holder('u')
    registry.claim(first)
    registry.claim(holder('u'))
    registry.release(first)
    expect(registry.size).toBe(1)
  })

  test('nothing of a user stays once its last stream is released', () => {
    const registry = createRegistry()
    const only = holder('u')
    registry.claim(only)
    registry.release(only)
    registry.release(only)
    expect(registry.size).toBe(0)
    expect(registry.generationOf('u')).toBeUndefined()
  })

  test('users are independent', () => {
    const registry = createRegistry()
    const ended: string[] = []
    registry.claim(holder('a', () => ended.push('a')))
    registry.claim(holder('b', () => ended.push('b')))
    expect(ended).toEqual([])
    expect(registry.size).toBe(2)
  })

  test('supersede() ends a local holder older than a remote generation, not a newer one', () => {
    const registry = createRegistry()
    let ended = 0
    registry.claim(holder('u', () => ended++), 5)
    expect(registry.supersede('u', 4)).toBe(false)
    expect(registry.supersede('u', 5)).toBe(false)
    expect(ended).toBe(0)
    expect(registry.supersede('u', 6)).toBe(true)
    expect(ended).toBe(1)
    expect(registry.size).toBe(0)
  })

  test('a claim older than the holder is born superseded and leaves the holder alone', async () => {
    const registry = createRegistry()
    let holderEnded = false
    registry.claim(holder('u', () => (holderEnded = true)), 9)
    const { promise, resolve } = Promise.withResolvers<void>()
    registry.claim(holder('u', resolve), 8)
    await promise
    expect(holderEnded).toBe(false)
    expect(registry.generationOf('u')).toBe(9)
  })
})

describe('provisional claims (a shared counter is asked afterwards)', () => {
  test('a newer generation announced before confirm() ends the holder at confirm', () => {
    const registry = createRegistry()
    let ended = 0
    const mine = holder('u', () => ended++)
    registry.claim(mine)
    expect(registry.supersede('u', 7)).toBe(false) // remembered, not acted on: our number is not known yet
    expect(ended).toBe(0)
    registry.confirm(mine, 6)
    expect(ended).toBe(1)
    expect(registry.size).toBe(0)
  })

  test('an older or equal announcement (our own NOTIFY, or a stale one) does not', () => {
    const registry = createRegistry()
    let ended = 0
    const mine = holder('u', () => ended++)
    registry.claim(mine)
    registry.supersede('u', 7)
    registry.confirm(mine, 7)
    expect(registry.supersede('u', 7)).toBe(false)
    expect(ended).toBe(0)
    expect(registry.generationOf('u')).toBe(7)
    expect(registry.supersede('u', 8)).toBe(true)
    expect(ended).toBe(1)
  })
})
