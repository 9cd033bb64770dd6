// Formatting a parsed text in one locale and one time zone. intl-messageformat does the ICU part;
// the Intl objects it asks for are built here, with the time zone added to every date and time,
// and kept (building one costs far more than formatting with it). Pure.
import { formatToParts, IntlMessageFormat, type Formatters, type PrimitiveType } from 'intl-messageformat'
import { TYPE, type MessageFormatElement } from '@formatjs/icu-messageformat-parser'
import { createLru } from './lru'
import type { Ast } from './icu'

/** Intl objects kept, across every template and stream: locales × zones × styles in use. */
const MAX_INTL = 4096
// An Intl object weighs about a kilobyte in JavaScriptCore's heap (ICU's own memory beside it).
const INTL_BYTES = 1024
const intl = createLru<Intl.NumberFormat | Intl.DateTimeFormat | Intl.PluralRules>(MAX_INTL, MAX_INTL * INTL_BYTES)
const byZone = createLru<Formatters>(1024, 1024 * 256)

/**
 * Options objects come from parsed texts (and intl-messageformat's fixed styles), so the same object
 * comes back for every alarm: an id per object names it in a cache key without serializing it.
 */
const optionIds = new WeakMap<object, number>()
let nextOptionId = 1

function idOf(options: object | undefined): number {
  if (!options) return 0
  let id = optionIds.get(options)
  if (id === undefined) optionIds.set(options, (id = nextOptionId++))
  return id
}

/** The formatters intl-messageformat calls, for one time zone. */
export function formattersFor(timeZone: string): Formatters {
  let formatters = byZone.get(timeZone)
  if (formatters) return formatters
  formatters = {
    getNumberFormat: (locales, options) => kept(`n|${locales}|${idOf(options)}`, () => new Intl.NumberFormat(locales, options)),
    getDateTimeFormat: (locales, options) =>
      kept(`d|${timeZone}|${locales}|${idOf(options)}`, () => new Intl.DateTimeFormat(locales, { ...options, timeZone })),
    // Asked with a fresh `{ type }` every time: named by the type, its only option here.
    getPluralRules: (locales, options) => kept(`p|${locales}|${options?.type ?? 'cardinal'}`, () => new Intl.PluralRules(locales, options)),
  }
  byZone.set(timeZone, formatters, 256)
  return formatters
}

function kept<T extends Intl.NumberFormat | Intl.DateTimeFormat | Intl.PluralRules>(key: string, build: () => T): T {
  let value = intl.get(key) as T | undefined
  if (!value) intl.set(key, (value = build()), INTL_BYTES)
  return value
}

/** How many Intl objects are kept now: the tests hold the bound to account. */
export function intlCacheSize(): number {
  return intl.size
}

/** The text with these values; throws what Intl throws for a value it cannot format. */
export function formatAst(ast: Ast, locale: string, timeZone: string, values: Record<string, PrimitiveType>): string {
  const parts = formatToParts(ast, locale, formattersFor(timeZone), IntlMessageFormat.formats, values)
  let out = ''
  for (const part of parts) out += String(part.value)
  return out
}

/**
 * The text with each of `names` shown as `{name}` instead of formatted: what a reader sees of an
 * alarm whose stored params miss them. A plural or select of such an argument goes as a whole (no
 * option can be chosen), its `#` with it.
 */
export function withPlaceholders(ast: Ast, names: ReadonlySet<string>): Ast {
  return ast.map((el): MessageFormatElement => {
    if (el.type === TYPE.literal || el.type === TYPE.pound) return el
    if (el.type === TYPE.tag) return { ...el, children: withPlaceholders(el.children, names) }
    if (names.has(el.value)) return { type: TYPE.literal, value: `{${el.value}}` }
    if (el.type === TYPE.select || el.type === TYPE.plural) {
      const options = Object.fromEntries(
        Object.entries(el.options).map(([key, option]) => [key, { ...option, value: withPlaceholders(option.value, names) }]),
      )
      return { ...el, options } as MessageFormatElement
    }
    return el
  })
}

/** Every argument the text uses, nested ones too. */
export function argumentNames(ast: Ast, out = new Set<string>()): Set<string> {
  for (const el of ast) {
    if (el.type === TYPE.literal || el.type === TYPE.pound) continue
    if (el.type === TYPE.tag) {
      argumentNames(el.children, out)
      continue
    }
    out.add(el.value)
    if (el.type === TYPE.select || el.type === TYPE.plural) for (const option of Object.values(el.options)) argumentNames(option.value, out)
  }
  return out
}
