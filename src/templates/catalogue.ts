// This process's copy of the template catalogue: the current texts of the keys it has needed, and
// each (key, version, locale) text parsed once. Both bounded (entries and bytes); a key is dropped
// when the signals say it changed on any instance, and everything when they may have missed that.
// No I/O of its own: rows come from the loader it is given.
import { canonicalLocale } from '../locale'
import { parseText, type Arguments, type Ast } from './icu'
import { createLru } from './lru'

/** A template as stored. */
export type StoredTemplate = {
  key: string
  version: number
  /** Locale → ICU text. */
  messages: Readonly<Record<string, string>>
  arguments: Arguments
  description: string | null
  createdAt: string
  updatedAt: string
}

/** A template as rendering reads it. */
export type Template = StoredTemplate & {
  /** Canonical, sorted: the alarm's languages for the fallback chain. */
  locales: readonly string[]
  /** The text in `locale` (one of `locales`). */
  text(locale: string): string
  /** That text parsed, kept in a bounded cache; an Error when it cannot be (a text SQL wrote). */
  compiled(locale: string): Ast | Error
}

/** Anything that names a template and can hold it once resolved: an alarm row. */
export type Resolvable = { template?: { key: string; resolved?: Template } }

export type CatalogueLimits = {
  /** Templates kept (their texts); the rest are read again when needed. */
  maxTemplates?: number
  maxTemplateBytes?: number
  /** Parsed texts kept: (key, version, locale). */
  maxCompiled?: number
  maxCompiledBytes?: number
}

export type Catalogue = {
  /** The key's current template, read once and then kept; undefined when there is none. */
  get(key: string): Promise<Template | undefined>
  /**
   * Gives each row that names a template its current one (one read for every key not kept).
   * Undefined, not a promise, when all were kept: rendering goes on in the same turn.
   */
  resolve(pages: readonly (readonly Resolvable[])[]): Promise<void> | undefined
  /** The key changed (here or on another instance): its texts and parsed texts are dropped. */
  forget(key: string): void
  /** A change may have been missed (the signal connection was lost): everything is dropped. */
  forgetAll(): void
  readonly stats: { templates: number; templateBytes: number; compiled: number; compiledBytes: number; loads: number }
}

const SEPARATOR = '\u0000'

export function createCatalogue(load: (keys: string[]) => Promise<StoredTemplate[]>, limits: CatalogueLimits = {}): Catalogue {
  const {
    maxTemplates = 10_000,
    maxTemplateBytes = 16 * 1024 * 1024,
    maxCompiled = 20_000,
    maxCompiledBytes = 32 * 1024 * 1024,
  } = limits
  const templates = createLru<Template>(maxTemplates, maxTemplateBytes)
  const compiled = createLru<Ast | Error>(maxCompiled, maxCompiledBytes)
  const inflight = new Map<string, Promise<Template | undefined>>()
  /** Bumped by every forget: a read that began before one may carry the old version, so it is not kept. */
  let epoch = 0
  let loads = 0

  function build(stored: StoredTemplate): Template {
    // Herald stores canonical tags; a text written by SQL as `en-us` is found as `en-US` too.
    const texts = new Map(Object.entries(stored.messages).map(([locale, text]) => [canonicalLocale(locale) ?? locale, text]))
    const template: Template = {
      ...stored,
      locales: Object.freeze([...texts.keys()].sort()),
      text: (locale) => texts.get(locale) ?? '',
      compiled(locale) {
        const slot = stored.key + SEPARATOR + stored.version + SEPARATOR + locale
        let ast = compiled.get(slot)
        if (ast === undefined) {
          const text = template.text(locale)
          try {
            ast = parseText(text, `template ${stored.key} (${locale})`)
          } catch (error) {
            ast = error as Error
          }
          // A parsed text weighs about 24 bytes a character of its source, measured on typical texts.
          compiled.set(slot, ast, 128 + 24 * text.length)
        }
        return ast
      },
    }
    return template
  }

  function bytesOf(stored: StoredTemplate): number {
    let bytes = 256 + 2 * (stored.key.length + (stored.description?.length ?? 0))
    for (const [locale, text] of Object.entries(stored.messages)) bytes += 64 + 2 * (locale.length + text.length)
    return bytes
  }

  function read(keys: string[]): Map<string, Promise<Template | undefined>> {
    const began = epoch
    loads++
    const all = load(keys).then((rows) => {
      const found = new Map(rows.map((row) => [row.key, build(row)]))
      if (epoch === began) for (const template of found.values()) templates.set(template.key, template, bytesOf(template))
      return found
    })
    const out = new Map<string, Promise<Template | undefined>>()
    for (const key of keys) {
      const one = all.then((found) => found.get(key))
      inflight.set(key, one)
      const done = () => void (inflight.get(key) === one && inflight.delete(key))
      one.then(done, done)
      out.set(key, one)
    }
    return out
  }

  return {
    async get(key) {
      return templates.get(key) ?? inflight.get(key) ?? read([key]).get(key)
    },
    resolve(pages) {
      const waiting = new Map<string, Resolvable[]>()
      for (const rows of pages)
        for (const row of rows) {
          const ref = row.template
          if (!ref || ref.resolved) continue
          const kept = templates.get(ref.key)
          if (kept) ref.resolved = kept
          else waiting.set(ref.key, [...(waiting.get(ref.key) ?? []), row])
        }
      if (waiting.size === 0) return undefined
      const unread = [...waiting.keys()].filter((key) => !inflight.has(key))
      const reading = unread.length > 0 ? read(unread) : new Map<string, Promise<Template | undefined>>()
      return Promise.all(
        [...waiting].map(async ([key, rows]) => {
          const template = await (reading.get(key) ?? inflight.get(key) ?? read([key]).get(key)!)
          for (const row of rows) row.template!.resolved = template
        }),
      ).then(() => {})
    },
    forget(key) {
      epoch++
      templates.delete(key)
      inflight.delete(key)
      compiled.deletePrefix(key + SEPARATOR)
    },
    forgetAll() {
      epoch++
      templates.clear()
      inflight.clear()
      compiled.clear()
    },
    get stats() {
      return { templates: templates.size, templateBytes: templates.bytes, compiled: compiled.size, compiledBytes: compiled.bytes, loads }
    },
  }
}
