// Herald's frames, encoded once: fixed frames at load, an alarm's frame once per (alarm, locale),
// and a template alarm's once per (alarm, locale, time zone).
import type { AlarmRow } from '../store/alarms'
import type { RenderError } from '../errors'
import { canonicalLocale, chooseLocale } from '../locale'
import { renderTemplate } from '../templates/render'
import { comment, encode, frame } from './sse'

/** How long a superseded EventSource waits before it reconnects on its own: a day, i.e. not soon. */
export const SUPERSEDED_RETRY_MS = 86_400_000

export const HEARTBEAT = encode(comment('heartbeat'))

export const SUPERSEDED = encode(
  frame({ retry: SUPERSEDED_RETRY_MS, event: 'superseded', data: '{"reason":"newer-connection"}' }),
)

export const EXPIRED = encode(frame({ event: 'expired', data: '{"reason":"token-expired"}' }))

/** The last frame of a stream ended by shutdown: reconnect after `retryMs`, spread by the caller. */
export function shutdownFrame(retryMs: number): Uint8Array {
  return encode(frame({ retry: retryMs }).slice(0, -1) + comment('shutting down'))
}

/** First bytes of every stream, before any query: the client and proxies see the stream open. */
export function openFrame(retryMs: number): Uint8Array {
  return encode(frame({ retry: retryMs }).slice(0, -1) + comment('herald'))
}

/**
 * `since`: the stream delivers every alarm with a greater seq. A client that has seen no alarm yet
 * resumes from it after a drop, so nothing committed in between is lost.
 */
export function readyFrame(userId: string, locale: string, generation: number, since: number): Uint8Array {
  return encode(frame({ event: 'ready', data: JSON.stringify({ userId, locale, generation, since }) }))
}

/**
 * What an alarm row's frames cost once: its locales canonicalized (a template alarm's are its
 * template's), its params parsed, and each frame encoded.
 */
type Rendered = { canonical: readonly string[]; params?: unknown; frames: Map<string, Uint8Array> }

/**
 * The frame cache, keyed by the row object: a fetch shares one row among every stream it serves,
 * so each (alarm, locale) is encoded once however many streams send it, and the cache entry goes
 * with the row when the last stream is done with it. A template's change reaches new fetches, whose
 * rows are new objects: a frame of the old text cannot outlive the fetch that made it.
 */
const rendered = new WeakMap<AlarmRow, Rendered>()

function renderedOf(row: AlarmRow): Rendered {
  let cache = rendered.get(row)
  if (!cache) {
    cache = row.template
      ? { canonical: row.template.resolved?.locales ?? [], params: parseParams(row.template.params), frames: new Map() }
      : // A direct SQL writer may store `en-us`; negotiation and events speak canonical tags.
        { canonical: row.locales.map((locale) => canonicalLocale(locale) ?? locale), frames: new Map() }
    rendered.set(row, cache)
  }
  return cache
}

function parseParams(json: string): unknown {
  try {
    return JSON.parse(json)
  } catch {
    return undefined // rendered with every argument as {name}
  }
}

/** The languages an alarm can be shown in (canonical, sorted): its texts', or its template's now. */
export function alarmLocales(row: AlarmRow): readonly string[] {
  return renderedOf(row).canonical
}

/**
 * The alarm's message in `locale` (one of alarmLocales(row)): its text, or its template rendered
 * in `timeZone`. A template alarm whose params no longer fit still renders, with `renderError`.
 * For every place a message goes out (the stream here, history); the template must be resolved
 * (Catalogue.resolve) first.
 */
export function renderMessage(row: AlarmRow, locale: string, timeZone: string): { message: string; renderError?: RenderError } {
  const cache = renderedOf(row)
  if (!row.template) return { message: row.messages[cache.canonical.indexOf(locale)]! }
  return renderTemplate(row.template.key, row.template.resolved, cache.params, locale, timeZone)
}

/**
 * The alarm in the best of its languages for this stream; `locale` in the event says which.
 * Undefined for an alarm with no text at all (a writer got one past the constraints): there is
 * nothing to show, and a frame must never carry `undefined` where JSON is due.
 */
export function alarmFrame(row: AlarmRow, preferred: readonly string[], defaultLocale: string, timeZone = 'UTC'): Uint8Array | undefined {
  const cache = renderedOf(row)
  if (cache.canonical.length === 0) return undefined
  const locale = chooseLocale(cache.canonical, preferred, defaultLocale)
  // Only a template's dates depend on the zone: a plain text keeps one frame per locale.
  const slot = row.template ? locale + ' ' + timeZone : locale
  let bytes = cache.frames.get(slot)
  if (!bytes) {
    const { message, renderError } = renderMessage(row, locale, timeZone)
    const template = row.template
      ? `,"template":${JSON.stringify(row.template.key)}` + (renderError ? `,"renderError":"${renderError}"` : '')
      : ''
    const data =
      `{"id":${row.id},"seq":${row.seq},"locale":${JSON.stringify(locale)},` +
      `"message":${JSON.stringify(message)}${template},"data":${row.dataJson},"createdAt":"${row.createdAt}"}`
    bytes = encode(frame({ id: String(row.seq), event: 'alarm', data }))
    cache.frames.set(slot, bytes)
  }
  return bytes
}

/** True the first time a row is rendered in this process: a direct writer's languages count once seen. */
export function isFirstRender(row: AlarmRow): boolean {
  return !rendered.has(row)
}
