// Language negotiation: parse what the client asks for, keep only real language tags, then
// best-fit match against the languages that exist. Pure: no I/O.
import { match } from '@formatjs/intl-localematcher'
import { Errors } from './errors'

const languageNames = new Intl.DisplayNames(['en'], { type: 'language', fallback: 'none' })
const NO_MATCH = 'und'
const MAX_REQUESTED = 16
const MAX_HEADER = 4096
const MAX_TAG = 64

// Every cache is bounded in bytes as well as entries: hostile input cannot grow one without limit.
const canonical = boundedCache<string | null>(2048, 256 * 1024)
const matches = boundedCache<string>(4096, 1024 * 1024)
const lists = boundedCache<readonly string[]>(1024, 256 * 1024)
/** An id per `Available.list` array (replaced whole on every change): cache keys name the list, not its contents. */
const listIds = new WeakMap<readonly string[], number>()
let nextListId = 0

/**
 * One shared, frozen array per distinct list: tens of thousands of streams asking for `ko` hold
 * the same ['ko'], not one copy each.
 */
export function sharedList(list: readonly string[]): readonly string[] {
  const key = list.join(',')
  const known = lists.get(key)
  if (known) return known
  const frozen = Object.freeze([...list])
  lists.set(key, frozen)
  return frozen
}

/**
 * The canonical form of a tag (`en-us` → `en-US`), or undefined when the tag is malformed or its
 * language does not exist (`US-en` parses as language `us`, which names nothing).
 */
export function canonicalLocale(tag: string): string | undefined {
  if (tag.length === 0 || tag.length > MAX_TAG) return undefined // never cached: a long key costs memory
  const hit = canonical.get(tag)
  if (hit !== undefined) return hit ?? undefined
  const result = computeCanonical(tag)
  canonical.set(tag, result ?? null)
  return result
}

function computeCanonical(tag: string): string | undefined {
  if (tag === NO_MATCH) return undefined
  try {
    const [canon] = Intl.getCanonicalLocales(tag)
    const language = new Intl.Locale(canon!).language
    return languageNames.of(language) === undefined ? undefined : canon
  } catch {
    return undefined
  }
}

/**
 * `Accept-Language` → tags in preference order. Malformed, unknown, wildcard and q=0 entries are
 * skipped: a browser's header is never the client's fault.
 */
export function parseAcceptLanguage(header: string | null | undefined): string[] {
  if (!header) return []
  const entries: { tag: string; q: number; index: number }[] = []
  const parts = header.slice(0, MAX_HEADER).split(',')
  for (let index = 0; index < parts.length && entries.length < MAX_REQUESTED; index++) {
    const [rawTag = '', ...params] = parts[index]!.split(';')
    const tag = canonicalLocale(rawTag.trim())
    const q = quality(params)
    if (tag && q > 0) entries.push({ tag, q, index })
  }
  entries.sort((a, b) => b.q - a.q || a.index - b.index)
  return unique(entries.map((entry) => entry.tag))
}

function quality(params: string[]): number {
  for (const param of params) {
    const [name, value] = param.split('=').map((s) => s.trim())
    if (name?.toLowerCase() !== 'q') continue
    if (!value || !/^(0(\.\d{0,3})?|1(\.0{0,3})?)$/.test(value)) return 0
    return Number(value)
  }
  return 1
}

/** The `lang` query parameter: one tag or a comma list. Anything invalid is the client's error. */
export function parseLangParam(value: string): string[] {
  const parts = value.split(',').map((part) => part.trim())
  if (parts.length > MAX_REQUESTED) throw Errors.invalidLocale(value, 'lang')
  return unique(
    parts.map((part) => {
      const tag = canonicalLocale(part)
      if (!tag) throw Errors.invalidLocale(part, 'lang')
      return tag
    }),
  )
}

/**
 * Best fit of `requested` among `available`, or undefined when nothing there fits. `availableKey`
 * names the list in the cache when it is long (the languages Herald knows); by default its contents do.
 */
export function bestFit(
  requested: readonly string[],
  available: readonly string[],
  availableKey = available.join(','),
): string | undefined {
  if (requested.length === 0 || available.length === 0) return undefined
  const key = requested.join(',') + '|' + availableKey
  let result = matches.get(key)
  if (result === undefined) {
    result = match(requested as string[], available as string[], NO_MATCH, { algorithm: 'best fit' })
    matches.set(key, result)
  }
  return result === NO_MATCH ? undefined : result
}

/** A stream's language: `locale` for the stream, `preferred` for how each alarm picks its text. */
export type StreamLanguage = { locale: string; preferred: readonly string[] }

/**
 * The product's subtlest rule. The stream's locale is the best fit of what the client asked for
 * among the languages that exist, else the default. Each alarm then looks for the stream's locale
 * first and the client's list after it. But when nothing asked for was known yet (a fresh
 * database) the default is a fallback, not a wish: the client's list comes first, so an alarm
 * that does have the asked-for language still arrives in it.
 */
export function streamLanguage(
  requested: readonly string[],
  available: readonly string[],
  defaultLocale: string,
): StreamLanguage {
  const fit = bestFit(requested, available, '#' + idOf(available))
  const locale = fit ?? defaultLocale
  let preferred: readonly string[]
  if (fit) preferred = unique([fit, ...requested])
  else if (requested.length > 0) preferred = requested
  else preferred = [locale]
  return { locale, preferred: sharedList(preferred) }
}

/**
 * Which of an alarm's texts a stream shows: its own locale if the alarm has it; else the best fit
 * of the client's list among the alarm's locales; else the default's; else the first, sorted.
 * `alarmLocales` must be sorted, so "first" is stable.
 */
export function chooseLocale(
  alarmLocales: readonly string[],
  preferred: readonly string[],
  defaultLocale: string,
): string {
  if (alarmLocales.includes(preferred[0]!)) return preferred[0]!
  return (
    bestFit(preferred, alarmLocales) ??
    (alarmLocales.includes(defaultLocale) ? defaultLocale : bestFit([defaultLocale], alarmLocales)) ??
    alarmLocales[0]!
  )
}

function idOf(list: readonly string[]): number {
  let id = listIds.get(list)
  if (id === undefined) listIds.set(list, (id = nextListId++))
  return id
}

export type Available = {
  /** Sorted; a new array whenever a language is learned, never changed in place. */
  readonly list: readonly string[]
  /**
   * Learns the tags seen in the data, up to the cap; the rest are not learned (their alarms still
   * arrive, in one of their own languages). Fixed sets (HERALD_LOCALES) learn nothing.
   */
  add(tags: Iterable<string>): void
  /** Throws TOO_MANY_LOCALES when learning these tags would pass the cap. */
  check(tags: readonly string[]): void
}

export type AvailableOptions = {
  /** How many languages Herald learns at most (HERALD_MAX_LOCALES). */
  max?: number
  /** Told of what it learned (once each): where they are kept for other instances and restarts. */
  onLearn?(tags: string[]): void
}

/**
 * The languages streams may negotiate to, kept in memory so a subscribe needs no query. Checking a
 * known tag costs one Set look-up however many are known; the sorted list is rebuilt only when a
 * language is learned, which happens at most `max` times.
 */
export function createAvailable(fixed: readonly string[] | undefined, { max = 1000, onLearn }: AvailableOptions = {}): Available {
  const known = new Set(fixed)
  let list: readonly string[] = fixed ? [...fixed] : []

  function unknown(tags: Iterable<string>): string[] {
    const out = new Set<string>()
    for (const raw of tags) {
      const tag = canonicalLocale(raw)
      if (tag && !known.has(tag)) out.add(tag)
    }
    return [...out]
  }

  return {
    get list() {
      return list
    },
    add(tags) {
      if (fixed) return
      const learned = unknown(tags).slice(0, Math.max(0, max - known.size))
      if (learned.length === 0) return
      for (const tag of learned) known.add(tag)
      list = [...known].sort()
      onLearn?.(learned)
    },
    check(tags) {
      if (fixed) return
      const fresh = unknown(tags).length
      if (fresh > 0 && known.size + fresh > max) throw Errors.tooManyLocales(`Herald knows ${known.size} languages, its maximum is ${max}`)
    },
  }
}

function unique<T>(items: T[]): T[] {
  return [...new Set(items)]
}

/**
 * A Map that forgets everything when it holds `maxEntries`, or keys and string values of about
 * `maxBytes` (UTF-16, two bytes a character): hostile input cannot grow it without bound.
 */
export function boundedCache<V>(maxEntries: number, maxBytes: number) {
  const map = new Map<string, V>()
  let bytes = 0
  const sizeOf = (key: string, value: V) => 2 * (key.length + (typeof value === 'string' ? value.length : 0))
  return {
    get: (key: string) => map.get(key),
    set(key: string, value: V) {
      const size = sizeOf(key, value)
      if (size > maxBytes) return
      if (map.size >= maxEntries || bytes + size > maxBytes) {
        map.clear()
        bytes = 0
      }
      map.set(key, value)
      bytes += size
    },
    get size() {
      return map.size
    },
    get bytes() {
      return bytes
    },
  }
}
