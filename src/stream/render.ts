// Herald's frames, encoded once: fixed frames at load, an alarm's frame once per (alarm, locale), a
// state change's once per row.
import type { AlarmRow, Badge, LogEntry, StateRow } from '../store/alarms'
import { canonicalLocale, chooseLocale } from '../locale'
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

/** The badge after a batch of frames that changed it; no `id:`, so it never moves the resume point. */
export function badgeFrame({ unread, unseen }: Badge): Uint8Array {
  return encode(frame({ event: 'badge', data: `{"unread":${unread},"unseen":${unseen}}` }))
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

/** What a row's frames cost once: each frame encoded (an alarm's by locale), an alarm's locales canonicalized. */
type Rendered = { frames: Map<string, Uint8Array>; canonical?: string[] }

/**
 * The frame cache, keyed by the row object: a fetch shares one row among every stream it serves,
 * so each frame (an alarm's per locale) is encoded once however many streams send it, and the
 * cache entry goes with the row when the last stream is done with it.
 */
const rendered = new WeakMap<LogEntry, Rendered>()

function cacheOf(row: LogEntry): Rendered {
  let cache = rendered.get(row)
  if (!cache) rendered.set(row, (cache = { frames: new Map() }))
  return cache
}

/** An alarm's text in one language: what a stream's frame and a history item show. */
export type Text = { locale: string; message: string }

/**
 * The alarm in the best of its languages for these preferences (locale.ts chooseLocale). Undefined
 * for an alarm with no text at all (a writer got one past the constraints): nothing to show.
 */
export function textOf(row: AlarmRow, preferred: readonly string[], defaultLocale: string): Text | undefined {
  if (row.messages.length === 0) return undefined
  const cache = cacheOf(row)
  // A direct SQL writer may store `en-us`; negotiation and events speak canonical tags.
  const canonical = (cache.canonical ??= row.locales.map((locale) => canonicalLocale(locale) ?? locale))
  const locale = chooseLocale(canonical, preferred, defaultLocale)
  return { locale, message: row.messages[canonical.indexOf(locale)]! }
}

/** The JSON of an alarm as events and history show it: `extra` adds fields (history's state), already JSON. */
export function alarmJson(row: AlarmRow, { locale, message }: Text, extra = ''): string {
  return (
    `{"id":${row.id},"seq":${row.seq},"locale":${JSON.stringify(locale)},` +
    `"message":${JSON.stringify(message)},"data":${row.dataJson},"createdAt":"${row.createdAt}"${extra}}`
  )
}

/**
 * The alarm in the best of its languages for this stream; `locale` in the event says which.
 * Undefined for an alarm with no text: a frame must never carry `undefined` where JSON is due.
 */
export function alarmFrame(row: AlarmRow, preferred: readonly string[], defaultLocale: string): Uint8Array | undefined {
  const text = textOf(row, preferred, defaultLocale)
  if (!text) return undefined
  const { frames } = cacheOf(row)
  let bytes = frames.get(text.locale)
  if (!bytes) {
    bytes = encode(frame({ id: String(row.seq), event: 'alarm', data: alarmJson(row, text) }))
    frames.set(text.locale, bytes)
  }
  return bytes
}

/** True the first time a row is rendered in this process: a direct writer's languages count once seen. */
export function isFirstRender(row: LogEntry): boolean {
  return !rendered.has(row)
}
