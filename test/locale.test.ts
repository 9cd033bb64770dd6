import { describe, expect, test } from 'bun:test'
import {
  canonicalLocale,
  sharedList,
  chooseLocale,
  createAvailable,
  streamLanguage,
  parseAcceptLanguage,
  parseLangParam,
} from '../src/locale'

const available = ['en-US', 'ja', 'ko', 'zh-Hant']

describe('canonicalLocale', () => {
  test.each([
    ['en-us', 'en-US'],
    ['EN-us', 'en-US'],
    ['zh-hant-tw', 'zh-Hant-TW'],
    ['ko', 'ko'],
  ])('canonicalizes %s to %s', (input, expected) => {
    expect(canonicalLocale(input)).toBe(expected)
  })

  test.each([['US-en'], ['xx'], ['*'], [''], ['en_US'], ['und'], ['i-klingon'], ['a'.repeat(100)]])(
    'rejects %j (malformed or no such language)',
    (input) => {
      expect(canonicalLocale(input)).toBeUndefined()
    },
  )
})

describe('parseAcceptLanguage', () => {
  test('orders by q, keeping header order for ties', () => {
    expect(parseAcceptLanguage('ko;q=0.5, ja, en-US;q=0.8, fr;q=0.8')).toEqual(['ja', 'en-US', 'fr', 'ko'])
  })

  test('skips wildcards, malformed tags, unknown languages and q=0', () => {
    expect(parseAcceptLanguage('*, US-en, en_GB, ja;q=0, xx, ko;q=abc, de;q=2, fr')).toEqual(['fr'])
  })

  test('never throws on junk', () => {
    expect(parseAcceptLanguage(';;;,,,=q;')).toEqual([])
    expect(parseAcceptLanguage(undefined)).toEqual([])
    expect(parseAcceptLanguage('x'.repeat(10_000))).toEqual([])
  })

  test('reads at most 16 entries of a huge header', () => {
    const header = Array.from({ length: 5000 }, () => 'ko').join(',') + ',ja'
    expect(parseAcceptLanguage(header)).toEqual(['ko'])
  })
})

describe('parseLangParam', () => {
  test('accepts one tag or a comma list, canonicalized', () => {
    expect(parseLangParam('en-gb')).toEqual(['en-GB'])
    expect(parseLangParam('ja-JP, ko')).toEqual(['ja-JP', 'ko'])
  })

  test.each([['US-en'], ['*'], [''], ['ko,,ja'], ['en;q=1']])('rejects %j with INVALID_LOCALE', (value) => {
    expect(() => parseLangParam(value)).toThrow(expect.objectContaining({ code: 'INVALID_LOCALE', status: 400 }))
  })
})

describe("streamLanguage (the stream's locale: best fit against what exists)", () => {
  test.each([
    [['en-GB'], 'en-US'],
    [['ja-JP'], 'ja'],
    [['zh-TW'], 'zh-Hant'],
    [['ko-KR'], 'ko'],
    [['fr', 'ja'], 'ja'],
  ])('%j → %s', (requested, expected) => {
    expect(streamLanguage(requested, available, 'en').locale).toBe(expected)
  })

  test('falls back to the default when nothing fits', () => {
    expect(streamLanguage(['fr'], available, 'en').locale).toBe('en')
    expect(streamLanguage([], available, 'en').locale).toBe('en')
    expect(streamLanguage(['ko'], [], 'en').locale).toBe('en')
  })

  test("a fit comes first in each alarm's preferences, then the client's list, once each", () => {
    expect(streamLanguage(['ja-JP', 'ko', 'ja-JP'], available, 'en').preferred).toEqual(['ja', 'ja-JP', 'ko'])
    expect(streamLanguage(['ja', 'ko'], available, 'en').preferred).toEqual(['ja', 'ko'])
  })

  test("when nothing asked for is known yet, the client's list comes first, not the default", () => {
    // A fresh database: no languages yet. An alarm with `ko` must still arrive in `ko`.
    expect(streamLanguage(['ko', 'ja'], [], 'en')).toEqual({ locale: 'en', preferred: ['ko', 'ja'] })
    expect(streamLanguage(['fr'], available, 'en')).toEqual({ locale: 'en', preferred: ['fr'] })
  })

  test('with nothing asked for, the default is the only preference', () => {
    expect(streamLanguage([], available, 'en')).toEqual({ locale: 'en', preferred: ['en'] })
  })

  test('equal requests share one preferences array (streams hold it, not a copy each)', () => {
    expect(streamLanguage(['ko'], available, 'en').preferred).toBe(streamLanguage(['ko'], available, 'en').preferred)
  })
})

describe('chooseLocale (per alarm)', () => {
  test("takes the stream's locale when the alarm has it", () => {
    expect(chooseLocale(['en-US', 'ja', 'ko'], ['ja', 'ja-JP'], 'en')).toBe('ja')
  })

  test("else the best fit of the client's list among the alarm's locales", () => {
    expect(chooseLocale(['en-GB', 'ko'], ['en-US', 'en-US'], 'en')).toBe('en-GB')
    expect(chooseLocale(['ja', 'ko'], ['en-US', 'fr', 'ja-JP'], 'en')).toBe('ja')
  })

  test("else the default locale's text (or its best fit)", () => {
    expect(chooseLocale(['de', 'en', 'ko'], ['fr'], 'en')).toBe('en')
    expect(chooseLocale(['de', 'en-US', 'ko'], ['fr'], 'en')).toBe('en-US')
  })

  test('else the first locale, in sorted order', () => {
    expect(chooseLocale(['de', 'ko'], ['fr'], 'en')).toBe('de')
  })
})

describe('createAvailable', () => {
  test('learns canonical tags from the data, once each, sorted', () => {
    const set = createAvailable(undefined)
    set.add(['ko', 'en-us', 'bogus tag'])
    set.add(['en-US', 'ja'])
    expect(set.list).toEqual(['en-US', 'ja', 'ko'])
  })

  test('a fixed list (HERALD_LOCALES) ignores the data', () => {
    const set = createAvailable(['ko'])
    set.add(['ja'])
    expect(set.list).toEqual(['ko'])
  })
})

describe('sharedList', () => {
  test('equal lists share one frozen array; different lists do not', () => {
    const a = sharedList(['ko', 'en'])
    expect(sharedList(['ko', 'en'])).toBe(a)
    expect(sharedList(['en', 'ko'])).not.toBe(a)
    expect(Object.isFrozen(a)).toBe(true)
    expect(a).toEqual(['ko', 'en'])
  })
})
