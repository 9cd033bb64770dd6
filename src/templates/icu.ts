// ICU MessageFormat texts: parsed once (formatjs' parser), checked, and read for what they need —
// their arguments and types, and the plural categories each locale's CLDR rules ask for. Pure.
import { parse, TYPE, type MessageFormatElement } from '@formatjs/icu-messageformat-parser'
import { Errors } from '../errors'

/** A template text's length, as an alarm's. */
export const MAX_TEXT = 4000
/** plural and select inside each other: deeper than this no translator can follow it either. */
export const MAX_DEPTH = 5
/** Arguments of one key: a notification with more is a document. */
export const MAX_ARGUMENTS = 50
export const MAX_ARGUMENT_NAME = 100

export type Ast = MessageFormatElement[]

/**
 * How a text uses an argument. `any` is a bare `{name}`: it prints whatever it is given, so it fits
 * whatever another locale asks (`{count}` in Korean beside `{count, plural, …}` in English).
 */
export type Kind = 'any' | 'string' | 'number' | 'date'

/** What a publisher must send for each argument; a bare `{name}` everywhere is a `string`. */
export type ArgumentType = 'string' | 'number' | 'date'
export type Arguments = Readonly<Record<string, ArgumentType>>

export type Warning = { locale: string; argument: string; missing: string[]; message: string }

type Plural = { argument: string; ordinal: boolean; categories: string[] }
type Reading = { kinds: Map<string, Kind>; plurals: Plural[] }

/** Parses one text: output is plain text, so tags are text (`<b>` stays `<b>`). */
export function parseText(text: string, where: string): Ast {
  try {
    return parse(text, { ignoreTag: true, requiresOtherClause: true, shouldParseSkeletons: true })
  } catch (error) {
    const { message, location } = error as { message: string; location?: { start: { line: number; column: number } } }
    const at = location ? ` at line ${location.start.line}, column ${location.start.column}` : ''
    throw Errors.invalidTemplate(where, `is not valid ICU MessageFormat: ${message}${at}`)
  }
}

/** The arguments a text uses, and its plurals, walking nested plural/select options. */
export function readText(ast: Ast, where: string): Reading {
  const reading: Reading = { kinds: new Map(), plurals: [] }
  walk(ast, 0, reading, where)
  if (reading.kinds.size > MAX_ARGUMENTS) throw Errors.invalidTemplate(where, `uses ${reading.kinds.size} arguments; at most ${MAX_ARGUMENTS}`)
  return reading
}

function walk(elements: Ast, depth: number, reading: Reading, where: string) {
  for (const el of elements) {
    switch (el.type) {
      case TYPE.argument:
        use(reading, el.value, 'any', where)
        break
      case TYPE.number:
        use(reading, el.value, 'number', where)
        break
      case TYPE.date:
      case TYPE.time:
        use(reading, el.value, 'date', where)
        break
      case TYPE.select:
      case TYPE.plural: {
        if (depth + 1 > MAX_DEPTH) throw Errors.invalidTemplate(where, `nests plural and select deeper than ${MAX_DEPTH} levels`)
        const plural = el.type === TYPE.plural
        use(reading, el.value, plural ? 'number' : 'string', where)
        if (plural) {
          const categories = Object.keys(el.options).filter((option) => !option.startsWith('='))
          reading.plurals.push({ argument: el.value, ordinal: el.pluralType === 'ordinal', categories })
        }
        for (const option of Object.values(el.options)) walk(option.value, depth + 1, reading, where)
        break
      }
      case TYPE.tag: // never produced with ignoreTag; walked in case
        walk(el.children, depth, reading, where)
        break
    }
  }
}

function use(reading: Reading, name: string, kind: Kind, where: string) {
  if (name.length > MAX_ARGUMENT_NAME) throw Errors.invalidTemplate(where, `an argument name is over ${MAX_ARGUMENT_NAME} characters`)
  const before = reading.kinds.get(name)
  const joined = before === undefined ? kind : unify(before, kind)
  if (joined === undefined) throw Errors.invalidTemplate(where, `uses {${name}} as a ${show(before!)} and as a ${show(kind)}`)
  reading.kinds.set(name, joined)
}

/** Two uses of one argument, as one kind; undefined when no value could serve both. */
export function unify(a: Kind, b: Kind): Kind | undefined {
  if (a === 'any') return b
  if (b === 'any' || a === b) return a
  return undefined
}

function show(kind: Kind): string {
  return kind === 'any' ? 'plain argument' : kind
}

export type Analysis = {
  /** Locale → parsed text, in the order given. */
  asts: Map<string, Ast>
  kinds: Map<string, Kind>
  warnings: Warning[]
}

/**
 * Checks every locale's text of a key: valid ICU, within the limits, the same argument names in
 * every locale with types that fit each other. Plurals that lack a category the locale's CLDR rules
 * use are warnings: those counts fall back to `other`, which may be fine, or a mistake.
 */
export function analyze(messages: Readonly<Record<string, string>>): Analysis {
  const asts = new Map<string, Ast>()
  const kinds = new Map<string, Kind>()
  const warnings: Warning[] = []
  let first: { locale: string; names: string } | undefined
  for (const [locale, text] of Object.entries(messages)) {
    const where = `messages.${locale}`
    const ast = parseText(text, where)
    const reading = readText(ast, where)
    const names = [...reading.kinds.keys()].sort().join(', ')
    if (!first) first = { locale, names }
    else if (names !== first.names)
      throw Errors.invalidTemplate(
        where,
        `uses the arguments {${names}} but messages.${first.locale} uses {${first.names}}: every locale must use the same`,
      )
    for (const [name, kind] of reading.kinds) {
      const joined = unify(kinds.get(name) ?? 'any', kind)
      if (joined === undefined)
        throw Errors.invalidTemplate(where, `uses {${name}} as a ${show(kind)} where another locale uses it as a ${show(kinds.get(name)!)}`)
      kinds.set(name, joined)
    }
    warnings.push(...pluralWarnings(locale, reading.plurals))
    asts.set(locale, ast)
  }
  return { asts, kinds, warnings }
}

/** The categories `locale`'s CLDR rules use that a plural has no option for (other is always there). */
export function pluralWarnings(locale: string, plurals: Plural[]): Warning[] {
  const out: Warning[] = []
  for (const { argument, ordinal, categories } of plurals) {
    const needed = new Intl.PluralRules(locale, { type: ordinal ? 'ordinal' : 'cardinal' }).resolvedOptions().pluralCategories
    const missing = needed.filter((category) => category !== 'other' && !categories.includes(category))
    if (missing.length === 0) continue
    const kind = ordinal ? 'selectordinal' : 'plural'
    out.push({
      locale,
      argument,
      missing,
      message: `${locale}: {${argument}, ${kind}} has no ${missing.join(', ')}: CLDR's ${locale} rules use them; those counts show 'other'`,
    })
  }
  return out
}

/** What a publisher sends for each argument. */
export function argumentTypes(kinds: ReadonlyMap<string, Kind>): Arguments {
  const out: Record<string, ArgumentType> = {}
  for (const name of [...kinds.keys()].sort()) {
    const kind = kinds.get(name)!
    out[name] = kind === 'any' ? 'string' : kind
  }
  return out
}

/**
 * Whether new texts fit a key's fixed arguments: the same names, and each used as its type (or
 * bare, which prints any). Stored alarms hold params for those types: a change would break them.
 */
export function fitsArguments(stored: Arguments, kinds: ReadonlyMap<string, Kind>): boolean {
  const names = Object.keys(stored)
  if (names.length !== kinds.size) return false
  return names.every((name) => {
    const kind = kinds.get(name)
    return kind !== undefined && (kind === 'any' || kind === stored[name])
  })
}

export function describeArguments(args: Arguments | ReadonlyMap<string, Kind>): string {
  const entries = Object.entries(args instanceof Map ? argumentTypes(args as ReadonlyMap<string, Kind>) : args)
  if (entries.length === 0) return 'no arguments'
  return entries.map(([name, type]) => `${name}: ${type}`).join(', ')
}
