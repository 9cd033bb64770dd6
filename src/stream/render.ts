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

/** The alarm in the best of its languages for this stream; `locale` in the event says which. */
export function alarmFrame(row: AlarmRow, preferred: readonly string[], defaultLocale: string): Uint8Array {
  const canonical = canonicalLocalesOf(row)
  const locale = chooseLocale(canonical, preferred, defaultLocale)
  const frames = (row.frames ??= new Map())
  let bytes = frames.get(locale)
  if (!bytes) {
    const message = row.messages[canonical.indexOf(locale)]!
    const data =
      `{"id":${row.id},"seq":${row.seq},"locale":${JSON.stringify(locale)},` +
      `"message":${JSON.stringify(message)},"data":${row.dataJson},"createdAt":"${row.createdAt}"}`
    bytes = encode(frame({ id: String(row.seq), event: 'alarm', data }))
    frames.set(locale, bytes)
  }
  return bytes
}

const canonicalByRow = new WeakMap<AlarmRow, string[]>()

/** A direct SQL writer may store `en-us`; negotiation and events speak canonical tags. */
function canonicalLocalesOf(row: AlarmRow): string[] {
  let list = canonicalByRow.get(row)
  if (!list) {
    list = row.locales.map((locale) => canonicalLocale(locale) ?? locale)
    canonicalByRow.set(row, list)
  }
  return list
}
