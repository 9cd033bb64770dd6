// Herald's frames, encoded once: fixed frames at load, an alarm's frame once per (alarm, locale).
import type { AlarmRow } from '../store/alarms'
import { canonicalLocale, chooseLocale } from '../locale'
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

/** What an alarm row's frames cost once: its locales canonicalized, and each locale's frame encoded. */
type Rendered = { canonical: string[]; frames: Map<string, Uint8Array> }

/**
 * The frame cache, keyed by the row object: a fetch shares one row among every stream it serves,
 * so each (alarm, locale) is encoded once however many streams send it, and the cache entry goes
 * with the row when the last stream is done with it.
 */
const rendered = new WeakMap<AlarmRow, Rendered>()

/**
 * The alarm in the best of its languages for this stream; `locale` in the event says which.
 * Undefined for an alarm with no text at all (a writer got one past the constraints): there is
 * nothing to show, and a frame must never carry `undefined` where JSON is due.
 */
export function alarmFrame(row: AlarmRow, preferred: readonly string[], defaultLocale: string): Uint8Array | undefined {
  if (row.messages.length === 0) return undefined
  let cache = rendered.get(row)
  if (!cache) {
    // A direct SQL writer may store `en-us`; negotiation and events speak canonical tags.
    cache = { canonical: row.locales.map((locale) => canonicalLocale(locale) ?? locale), frames: new Map() }
    rendered.set(row, cache)
  }
  const locale = chooseLocale(cache.canonical, preferred, defaultLocale)
  let bytes = cache.frames.get(locale)
  if (!bytes) {
    const message = row.messages[cache.canonical.indexOf(locale)]!
    const data =
      `{"id":${row.id},"seq":${row.seq},"locale":${JSON.stringify(locale)},` +
      `"message":${JSON.stringify(message)},"data":${row.dataJson},"createdAt":"${row.createdAt}"}`
    bytes = encode(frame({ id: String(row.seq), event: 'alarm', data }))
    cache.frames.set(locale, bytes)
  }
  return bytes
}

/** True the first time a row is rendered in this process: a direct writer's languages count once seen. */
export function isFirstRender(row: AlarmRow): boolean {
  return !rendered.has(row)
}
