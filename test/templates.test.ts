// The pure template parts: ICU parsing and checks, CLDR plural categories, numbers, currencies,
// dates and times per locale and zone, params, and the bounded caches. No database here; the
// HTTP and stream behaviour is in templates-http.test.ts and templates-stream.test.ts.
import { describe, expect, test } from 'bun:test'
import { canonicalTimeZone } from '../src/time-zone'
import { createCatalogue, type StoredTemplate, type Template } from '../src/templates/catalogue'
import { defineTemplate } from '../src/templates/define'
import { intlCacheSize } from '../src/templates/format'
import { fitsArguments, MAX_DEPTH } from '../src/templates/icu'
import { createLru } from '../src/templates/lru'
import { checkParams } from '../src/templates/params'
import { renderTemplate } from '../src/templates/render'

function stored(key: string, messages: Record<string, string>, version = 1): StoredTemplate {
  return { key, version, messages, arguments: defineTemplate(messages).arguments, description: null, createdAt: '', updatedAt: '' }
}

async function templateOf(messages: Record<string, string>): Promise<Template> {
  const catalogue = createCatalogue(async (keys) => keys.map((key) => stored(key, messages)))
  return (await catalogue.get('t'))!
}

function render(template: Template, params: unknown, locale: string, timeZone = 'UTC') {
  return renderTemplate(template.key, template, params, locale, timeZone)
}

function codeOf(run: () => unknown): string | undefined {
  try {
    run()
  } catch (error) {
    return `${(error as { code?: string }).code}: ${(error as Error).message}`
  }
  return undefined
}

const EVERY = '{n, plural, =42 {exactly #} zero {zero #} one {one #} two {two #} few {few #} many {many #} other {other #}}'

describe('plurals follow each locale’s CLDR rules, every category', () => {
  // Numbers chosen per category from CLDR's plural rules (unicode.org/cldr/charts, "Language Plural Rules").
  const cases: Record<string, [number, string][]> = {
    en: [[1, 'one'], [0, 'other'], [2, 'other'], [21, 'other'], [1.5, 'other']],
    ko: [[0, 'other'], [1, 'other'], [2, 'other'], [11, 'other']],
    ja: [[0, 'other'], [1, 'other'], [2, 'other'], [100, 'other']],
    ru: [[1, 'one'], [21, 'one'], [2, 'few'], [3, 'few'], [24, 'few'], [0, 'many'], [5, 'many'], [11, 'many'], [12, 'many'], [1.5, 'other']],
    ar: [[0, 'zero'], [1, 'one'], [2, 'two'], [3, 'few'], [10, 'few'], [103, 'few'], [11, 'many'], [99, 'many'], [100, 'other'], [102, 'other'], [1.5, 'other']],
    pl: [[1, 'one'], [2, 'few'], [4, 'few'], [22, 'few'], [0, 'many'], [5, 'many'], [12, 'many'], [25, 'many'], [1.5, 'other']],
  }
  for (const [locale, numbers] of Object.entries(cases))
    test(`${locale}: ${[...new Set(numbers.map(([, c]) => c))].join(', ')}`, async () => {
      const template = await templateOf({ [locale]: EVERY })
      const nf = new Intl.NumberFormat(locale)
      for (const [n, category] of numbers) expect(render(template, { n }, locale).message).toBe(`${category} ${nf.format(n)}`)
      expect(render(template, { n: 42 }, locale).message).toBe(`exactly ${nf.format(42)}`) // =N wins over the category
    })

  test('a plural without a category the locale uses is a warning, not an error; one the locale never uses is fine', () => {
    const { warnings } = defineTemplate({
      en: '{n, plural, one {# file} other {# files}}',
      ko: '{n, plural, one {파일 #개} other {파일 #개}}',
      ru: '{n, plural, one {# файл} other {# файлов}}',
      ar: '{n, plural, one {ملف} other {# ملفات}}',
      pl: '{n, plural, one {# plik} few {# pliki} many {# plików} other {# pliku}}',
    })
    expect(warnings.map(({ locale, argument, missing }) => ({ locale, argument, missing }))).toEqual([
      { locale: 'ru', argument: 'n', missing: ['few', 'many'] },
      { locale: 'ar', argument: 'n', missing: ['zero', 'two', 'few', 'many'] },
    ])
    expect(warnings[0]!.message).toContain('few, many')
  })

  test('selectordinal uses the ordinal rules (English one, two, few)', async () => {
    const template = await templateOf({ en: '{n, selectordinal, one {#st} two {#nd} few {#rd} other {#th}}' })
    expect([1, 2, 3, 4, 11, 12, 13, 21, 22, 23, 101].map((n) => render(template, { n }, 'en').message)).toEqual(
      ['1st', '2nd', '3rd', '4th', '11th', '12th', '13th', '21st', '22nd', '23rd', '101st'],
    )
    expect(defineTemplate({ en: '{n, selectordinal, one {#st} other {#th}}' }).warnings[0]!.missing).toEqual(['two', 'few'])
  })
})

describe('numbers, currencies, dates and times per locale and time zone', () => {
  const at = '2026-12-12T10:30:00Z'

  test('numbers and currencies are formatted by the locale', async () => {
    const template = await templateOf({
      en: '{n, number} {p, number, ::currency/EUR} {r, number, percent}',
      de: '{n, number} {p, number, ::currency/EUR} {r, number, percent}',
      fr: '{n, number} {p, number, ::currency/EUR} {r, number, percent}',
      ja: '{n, number} {p, number, ::currency/JPY} {r, number, percent}',
    })
    const params = { n: 1234567.891, p: 1234.5, r: 0.25 }
    expect(render(template, params, 'en').message).toBe('1,234,567.891 €1,234.50 25%')
    // CLDR puts no-break spaces before € and % in German and French, and narrow ones between French groups.
    expect(render(template, params, 'de').message).toBe('1.234.567,891 1.234,50\u00a0€ 25\u00a0%')
    expect(render(template, params, 'fr').message).toBe('1\u202f234\u202f567,891 1\u202f234,50\u00a0€ 25\u00a0%')
    expect(render(template, params, 'ja').message).toBe('1,234,567.891 ￥1,235 25%') // yen has no minor unit
  })

  test('dates and times are shown in the reader’s zone, in the locale’s form', async () => {
    const template = await templateOf({
      en: '{at, date, medium} {at, time, short}',
      ko: '{at, date, medium} {at, time, short}',
      ja: '{at, date, long} {at, time, short}',
    })
    expect(render(template, { at }, 'en', 'UTC').message).toBe('Dec 12, 2026 10:30 AM')
    expect(render(template, { at }, 'en', 'America/Los_Angeles').message).toBe('Dec 12, 2026 2:30 AM')
    expect(render(template, { at }, 'en', 'Pacific/Kiritimati').message).toBe('Dec 13, 2026 12:30 AM') // UTC+14: the next day
    expect(render(template, { at }, 'ko', 'Asia/Seoul').message).toBe('2026년 12월 12일 오후 7:30')
    expect(render(template, { at }, 'ja', 'Asia/Tokyo').message).toBe('2026年12月12日 19:30')
    // Epoch milliseconds are the same instant.
    expect(render(template, { at: Date.parse(at) }, 'ja', 'Asia/Tokyo').message).toBe('2026年12月12日 19:30')
  })

  test('date skeletons and a time with its zone name', async () => {
    const template = await templateOf({ en: '{at, date, ::yyyyMMMdEEE} · {at, time, ::Hmm} · {at, time, full}' })
    expect(render(template, { at }, 'en', 'Asia/Seoul').message).toBe('Sat, Dec 12, 2026 · 19:30 · 7:30:00 PM GMT+9')
  })

  test('IANA names are canonicalized; offsets, abbreviations of nothing and junk are not zones', () => {
    expect(canonicalTimeZone('asia/seoul')).toBe('Asia/Seoul')
    expect(canonicalTimeZone('UTC')).toBe('UTC')
    expect(canonicalTimeZone('Etc/GMT+9')).toBe('Etc/GMT+9')
    for (const bad of ['+09:00', '-05:00', 'GMT+9', 'Mars/Olympus', '', 'Asia/Seoul/', '../etc', 'x'.repeat(100)])
      expect(canonicalTimeZone(bad)).toBeUndefined()
  })
})

describe('template texts', () => {
  test('arguments and their types, from every locale; a bare {x} fits whatever another locale asks', () => {
    const definition = defineTemplate({
      en: '{actor} and {count, plural, one {# other} other {# others}} commented on {at, date}: {kind, select, photo {a photo} other {a post}}',
      ko: '{actor} 외 {count}명이 {at}에 {kind}에 댓글을 남겼습니다',
    })
    expect(definition.arguments).toEqual({ actor: 'string', at: 'date', count: 'number', kind: 'string' })
  })

  test('tags are text: output is plain text, never HTML', async () => {
    const template = await templateOf({ en: '<b>{name}</b> <script>alert(1)</script>' })
    expect(render(template, { name: '<i>x</i>' }, 'en').message).toBe('<b><i>x</i></b> <script>alert(1)</script>')
  })

  const invalid: [string, Record<string, string>, string][] = [
    ['a syntax error, with its position', { en: 'ok', ko: '{count, plural, one {x}' }, 'messages.ko: is not valid ICU MessageFormat: MISSING_OTHER_CLAUSE at line 1, column 24'],
    ['an unclosed argument', { en: 'Hello {name' }, 'messages.en: is not valid ICU MessageFormat: EXPECT_ARGUMENT_CLOSING_BRACE at line 1, column 7'],
    ['locales that use different arguments', { en: '{a} {b}', ko: '{a}' }, 'messages.ko: uses the arguments {a} but messages.en uses {a, b}'],
    ['one argument as a number and as a date', { en: '{x, number}', ko: '{x, date}' }, 'messages.ko: uses {x} as a date where another locale uses it as a number'],
    ['one argument twice with different types in one text', { en: '{x, number} {x, select, a {} other {}}' }, 'messages.en: uses {x} as a number and as a string'],
    ['plural nested too deep', { en: '{a, select, x {'.repeat(MAX_DEPTH + 1) + 'y' + '} other {z}}'.repeat(MAX_DEPTH + 1) }, `nests plural and select deeper than ${MAX_DEPTH} levels`],
    ['a currency Intl does not know', { en: '{p, number, ::currency/EURO}' }, 'messages.en: cannot be formatted'],
  ]
  for (const [what, messages, expected] of invalid)
    test(`INVALID_TEMPLATE: ${what}`, () => {
      expect(codeOf(() => defineTemplate(messages))).toStartWith('INVALID_TEMPLATE: ')
      expect(codeOf(() => defineTemplate(messages))).toContain(expected)
    })

  test('nesting up to the limit is fine', () => {
    const text = '{a, select, x {'.repeat(MAX_DEPTH) + 'y' + '} other {z}}'.repeat(MAX_DEPTH)
    expect(defineTemplate({ en: text }).arguments).toEqual({ a: 'string' })
  })

  test('a key’s arguments are fixed: new texts fit when they use the same names as the same types, or bare', () => {
    const stored = defineTemplate({ en: '{n, plural, one {#} other {#}} {who}' }).arguments
    expect(fitsArguments(stored, defineTemplate({ ko: '{n}명 {who}' }).kinds)).toBe(true)
    expect(fitsArguments(stored, defineTemplate({ ko: '{n, number} {who, select, a {} other {}}' }).kinds)).toBe(true)
    expect(fitsArguments(stored, defineTemplate({ ko: '{n, date} {who}' }).kinds)).toBe(false)
    expect(fitsArguments(stored, defineTemplate({ ko: '{n} {who} {extra}' }).kinds)).toBe(false)
    expect(fitsArguments(stored, defineTemplate({ ko: '{n}' }).kinds)).toBe(false)
    // Created bare, a string: a later number would break the strings stored alarms hold.
    expect(fitsArguments(defineTemplate({ en: '{n}' }).arguments, defineTemplate({ en: '{n, number}' }).kinds)).toBe(false)
  })
})

describe('params', () => {
  const args = defineTemplate({ en: '{who} {n, plural, other {#}} {at, date} {kind, select, a {A} other {B}}' }).arguments
  const good = { who: 'Mina', n: 3, at: '2026-12-12T10:30:00+09:00', kind: 'a' }

  test('every argument present and of its type passes', () => {
    expect(codeOf(() => checkParams(args, good))).toBeUndefined()
    expect(codeOf(() => checkParams(args, { ...good, at: 1_797_000_000_000 }))).toBeUndefined()
  })

  const bad: [string, Record<string, unknown>, string][] = [
    ['a missing one', { who: 'x', n: 1, at: good.at }, 'params.kind: is missing (a string)'],
    ['an extra one', { ...good, extra: 1 }, 'params.extra: is not an argument of this template'],
    ['a string for a plural', { ...good, n: '3' }, 'params.n: must be a finite number'],
    ['a number for a select', { ...good, kind: 1 }, 'params.kind: must be a string'],
    ['a date without an offset', { ...good, at: '2026-12-12T10:30:00' }, 'params.at: must be an ISO 8601 date-time'],
    ['a date alone', { ...good, at: '2026-12-12' }, 'params.at: must be an ISO 8601 date-time'],
    ['an impossible date', { ...good, at: '2026-13-45T10:30:00Z' }, 'params.at: must be an ISO 8601 date-time'],
    ['a fractional epoch', { ...good, at: 1.5 }, 'params.at: must be epoch milliseconds'],
    ['an object', { ...good, who: { a: 1 } }, 'params.who: must be a string'],
    ['a string with NUL', { ...good, who: 'a\u0000b' }, 'params.who: must be well-formed Unicode without NUL'],
    ['a string too long', { ...good, who: 'x'.repeat(4001) }, 'params.who: must be at most 4000 characters'],
  ]
  for (const [what, params, expected] of bad)
    test(`INVALID_PARAMS: ${what}`, () => {
      expect(codeOf(() => checkParams(args, params))).toStartWith(`INVALID_PARAMS: ${expected}`)
    })

  test('stored params that no longer fit still render: what is missing or wrong shows as {name}', async () => {
    const template = await templateOf({ en: '{who} booked {n, plural, one {# seat} other {# seats}} for {at, date, medium}' })
    expect(render(template, { who: 'Mina', at: '2026-12-12T10:30:00Z' }, 'en')).toEqual({
      message: 'Mina booked {n} for Dec 12, 2026',
      renderError: 'INVALID_PARAMS',
    })
    expect(render(template, { who: 7, n: 'many', at: 'soon' }, 'en')).toEqual({ message: '{who} booked {n} for {at}', renderError: 'INVALID_PARAMS' })
    expect(render(template, 'not an object', 'en')).toEqual({ message: '{who} booked {n} for {at}', renderError: 'INVALID_PARAMS' })
    expect(render(template, { who: 'Mina', n: 1, at: '2026-12-12T10:30:00Z', extra: true }, 'en')).toEqual({ message: 'Mina booked 1 seat for Dec 12, 2026' })
  })

  test('a text that cannot be parsed (written by SQL) is shown as written, flagged', () => {
    const broken = createCatalogue(async () => [{ ...stored('b', { en: 'x' }), messages: { en: 'Hello {name' } }])
    return broken.get('b').then((template) => {
      expect(render(template!, {}, 'en')).toEqual({ message: 'Hello {name', renderError: 'INVALID_TEMPLATE' })
    })
  })
})

describe('the caches stay bounded', () => {
  test('the LRU holds at most its entries and bytes, dropping the least recently used', () => {
    const lru = createLru<string>(3, 100)
    lru.set('a', 'A', 10)
    lru.set('b', 'B', 10)
    lru.set('c', 'C', 10)
    lru.get('a') // a is now the youngest
    lru.set('d', 'D', 10)
    expect([lru.get('a'), lru.get('b'), lru.get('c'), lru.get('d')]).toEqual(['A', undefined, 'C', 'D'])
    lru.set('big', 'X', 95) // pushes out all but itself
    expect(lru.size).toBe(1)
    expect(lru.bytes).toBe(95)
    lru.set('huge', 'Y', 101) // larger than the whole cache: never kept
    expect(lru.get('huge')).toBeUndefined()
    expect(lru.bytes).toBeLessThanOrEqual(100)
  })

  test('templates and parsed texts stay within their bounds however many keys are rendered', async () => {
    const catalogue = createCatalogue(
      async (keys) => keys.map((key) => stored(key, { en: `${key}: {n, plural, one {# item} other {# items}}`, ko: `${key}: {n}개` })),
      { maxTemplates: 50, maxTemplateBytes: 64 * 1024, maxCompiled: 60, maxCompiledBytes: 256 * 1024 },
    )
    for (let i = 0; i < 400; i++) {
      const template = (await catalogue.get(`key-${i}`))!
      expect(render(template, { n: i }, i % 2 ? 'en' : 'ko').message).toContain(String(i))
    }
    const { templates, templateBytes, compiled, compiledBytes, loads } = catalogue.stats
    expect(templates).toBeLessThanOrEqual(50)
    expect(templateBytes).toBeLessThanOrEqual(64 * 1024)
    expect(compiled).toBeLessThanOrEqual(60)
    expect(compiledBytes).toBeLessThanOrEqual(256 * 1024)
    expect(loads).toBe(400)
    expect(intlCacheSize()).toBeLessThanOrEqual(4096)
  })

  test('a key is read once while kept, again after it was forgotten; a read in flight when it is forgotten is not kept', async () => {
    let version = 1
    const reads: string[][] = []
    const { promise: gate, resolve: open } = Promise.withResolvers<void>()
    let gated = false
    const catalogue = createCatalogue(async (keys) => {
      reads.push(keys)
      if (gated) await gate
      return keys.map((key) => stored(key, { en: `v${version}` }, version))
    })
    expect((await catalogue.get('k'))!.version).toBe(1)
    expect((await catalogue.get('k'))!.version).toBe(1)
    expect(reads.length).toBe(1)
    catalogue.forget('k')
    gated = true
    const inFlight = catalogue.get('k') // reads version 1 …
    version = 2
    catalogue.forget('k') // … and the change lands meanwhile
    open()
    expect((await inFlight)!.version).toBe(2) // the read saw the current row (the gate only delays it)
    gated = false
    expect((await catalogue.get('k'))!.version).toBe(2)
    expect(reads.length).toBe(3) // the in-flight one was not kept
  })

  test('resolve reads every missing key of a batch in one read, and none when all are kept', async () => {
    const reads: string[][] = []
    const catalogue = createCatalogue(async (keys) => (reads.push(keys), keys.map((key) => stored(key, { en: key }))))
    const rows = ['a', 'b', 'a', 'c'].map((key) => ({ template: { key } as { key: string; resolved?: Template } }))
    await catalogue.resolve([rows.slice(0, 2), rows.slice(2)])
    expect(reads).toEqual([['a', 'b', 'c']])
    expect(rows.map((row) => row.template.resolved?.key)).toEqual(['a', 'b', 'a', 'c'])
    const again = [{ template: { key: 'b' } as { key: string; resolved?: Template } }]
    expect(catalogue.resolve([again])).toBeUndefined()
    expect(again[0]!.template.resolved?.key).toBe('b')
  })
})
