// Herald's frames, encoded once: fixed frames at load, an alarm's frame once per (alarm, locale), a
// template alarm's once per (alarm, locale, time zone), a state change's once per row.
import type { RenderError } from '../errors'
import { canonicalLocale, chooseLocale } from '../locale'
import type { AlarmRow, Badge, DeletedRow, LogEntry, StateRow } from '../store/alarms'
import { renderTemplate } from '../templates/render'
import { comment, encode, frame } from './sse'

/** How long a superseded EventSource waits before it reconnects on its own: a day, i.e. not soon. */
export const SUPERSEDED_RETRY_MS = 86_400_000

export const HEARTBEAT = encode(comment('heartbeat'))

/** The last frame of a superseded stream, by reason (a newer stream of this device, or too many devices). */
export const SUPERSEDED = {
  'newer-connection': encode(frame({ retry: SUPERSEDED_RETRY_MS, event: 'superseded', data: '{"reason":"newer-connection"}' })),
  'too-many-devices': encode(frame({ retry: SUPERSEDED_RETRY_MS, event: 'superseded', data: '{"reason":"too-many-devices"}' })),
} as const

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
 * `since`: the stream delivers every entry of the user's log with a greater seq. A client that has
 * seen none yet resumes from it after a drop, so nothing committed in between is lost. `badge` is
 * the user's, now.
 */
export function readyFrame(
  userId: string,
  device: string | null,
  locale: string,
  generation: number,
  since: number,
  badge: Badge,
): Uint8Array {
  const data = JSON.stringify({ userId, device, locale, generation, since, badge: { unread: badge.unread, unseen: badge.unseen } })
  return encode(frame({ event: 'ready', data }))
}

/** Badges this small are encoded once each and shared: a burst gives thousands of users the same one. */
const SMALL_BADGE = 64
const smallBadges: (Uint8Array | undefined)[] = new Array(SMALL_BADGE * SMALL_BADGE)

/** The badge after a batch of frames that changed it; no `id:`, so it never moves the resume point. */
export function badgeFrame({ unread, unseen }: Badge): Uint8Array {
  const small = unread >= 0 && unread < SMALL_BADGE && unseen >= 0 && unseen < SMALL_BADGE
  const slot = unread * SMALL_BADGE + unseen
  if (small && smallBadges[slot]) return smallBadges[slot]
  const bytes = encode(frame({ event: 'badge', data: `{"unread":${unread},"unseen":${unseen}}` }))
  if (small) smallBadges[slot] = bytes
  return bytes
}

/** A change of state in the user's log: `id:` is its seq, like an alarm's. */
export function stateFrame(row: StateRow): Uint8Array {
  const { frames } = cacheOf(row)
  let bytes = frames.get('')
  if (!bytes) {
    const which = row.ids ? `"ids":${JSON.stringify(row.ids)}` : `"upTo":${row.upTo}`
    const data = `{"seq":${row.seq},"change":${JSON.stringify(row.change)},${which}}`
    bytes = encode(frame({ id: String(row.seq), event: 'state', data }))
    frames.set('', bytes)
  }
  return bytes
}

/**
 * An alarm deleted: `id` and `seq` name the alarm, as its `alarm` event did; `id:` is the
 * deletion's own place in the log, so a resumed stream neither repeats nor misses it.
 */
export function deletedFrame(row: DeletedRow): Uint8Array {
  const { frames } = cacheOf(row)
  let bytes = frames.get('')
  if (!bytes) {
    bytes = encode(frame({ id: String(row.seq), event: 'deleted', data: `{"id":${row.id},"seq":${row.alarmSeq}}` }))
    frames.set('', bytes)
  }
  return bytes
}

/**
 * What a row's frames cost once: each frame encoded (an alarm's by locale, a template alarm's by
 * locale and time zone), an alarm's locales canonicalized (a template alarm's are its template's),
 * a template alarm's params parsed.
 */
type Rendered = { frames: Map<string, Uint8Array>; canonical?: readonly string[]; params?: unknown }

/**
 * The frame cache, keyed by the row object: a fetch shares one row among every stream it serves,
 * so each frame is encoded once however many streams send it, and the cache entry goes with the
 * row when the last stream is done with it. A template's change reaches new fetches, whose rows
 * are new objects: a frame of the old text cannot outlive the fetch that made it.
 */
const rendered = new WeakMap<LogEntry, Rendered>()

function cacheOf(row: LogEntry): Rendered {
  let cache = rendered.get(row)
  if (!cache) rendered.set(row, (cache = { frames: new Map() }))
  return cache
}

/** The alarm's cache, with its languages and (a template alarm's) params worked out once. */
function alarmCache(row: AlarmRow): Rendered & { canonical: readonly string[] } {
  const cache = cacheOf(row)
  if (!cache.canonical) {
    if (row.template) {
      cache.canonical = row.template.resolved?.locales ?? []
      cache.params = parseParams(row.template.params)
    } // A direct SQL writer may store `en-us`; negotiation and events speak canonical tags.
    else cache.canonical = row.locales.map((locale) => canonicalLocale(locale) ?? locale)
  }
  return cache as Rendered & { canonical: readonly string[] }
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
  return alarmCache(row).canonical
}

/**
 * The alarm's message in `locale` (one of alarmLocales(row)): its text, or its template rendered
 * in `timeZone`. A template alarm whose params no longer fit still renders, with `renderError`.
 * The template must be resolved (Catalogue.resolve) first.
 */
export function renderMessage(row: AlarmRow, locale: string, timeZone: string): { message: string; renderError?: RenderError } {
  const cache = alarmCache(row)
  if (!row.template) return { message: row.messages[cache.canonical.indexOf(locale)]! }
  return renderTemplate(row.template.key, row.template.resolved, cache.params, locale, timeZone)
}

/** An alarm's message in one language: what a stream's frame and a history item show. */
export type Text = { locale: string; message: string; renderError?: RenderError }

/**
 * The alarm in the best of its languages for these preferences (locale.ts chooseLocale), in
 * `timeZone`. Undefined for an alarm with nothing to show (no text, or no template's texts).
 */
export function textOf(row: AlarmRow, preferred: readonly string[], defaultLocale: string, timeZone = 'UTC'): Text | undefined {
  const { canonical } = alarmCache(row)
  if (canonical.length === 0) return undefined
  const locale = chooseLocale(canonical, preferred, defaultLocale)
  return { locale, ...renderMessage(row, locale, timeZone) }
}

/** The JSON of an alarm as events and history show it: `extra` adds fields (history's state), already JSON. */
export function alarmJson(row: AlarmRow, { locale, message, renderError }: Text, extra = ''): string {
  const template = row.template
    ? `,"template":${JSON.stringify(row.template.key)}` + (renderError ? `,"renderError":"${renderError}"` : '')
    : ''
  return (
    `{"id":${row.id},"seq":${row.seq},"locale":${JSON.stringify(locale)},` +
    `"message":${JSON.stringify(message)}${template},"data":${row.dataJson},"createdAt":"${row.createdAt}"` +
    (row.expiresAt ? `,"expiresAt":"${row.expiresAt}"` : '') +
    `${extra}}`
  )
}

/**
 * The alarm in the best of its languages for this stream; `locale` in the event says which.
 * Undefined for an alarm with nothing to show: a frame must never carry `undefined` where JSON is due.
 */
export function alarmFrame(
  row: AlarmRow,
  preferred: readonly string[],
  defaultLocale: string,
  timeZone = 'UTC',
): Uint8Array | undefined {
  const { canonical, frames } = alarmCache(row)
  if (canonical.length === 0) return undefined
  const locale = chooseLocale(canonical, preferred, defaultLocale)
  // Only a template's dates depend on the zone: a plain text keeps one frame per locale.
  const slot = row.template ? locale + ' ' + timeZone : locale
  let bytes = frames.get(slot)
  if (!bytes) {
    const text = { locale, ...renderMessage(row, locale, timeZone) }
    bytes = encode(frame({ id: String(row.seq), event: 'alarm', data: alarmJson(row, text) }))
    frames.set(slot, bytes)
  }
  return bytes
}

/** True the first time a row is rendered in this process: a direct writer's languages count once seen. */
export function isFirstRender(row: LogEntry): boolean {
  return !rendered.has(row)
}
