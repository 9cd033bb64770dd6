// Time zones: IANA names only (`Asia/Seoul`, `UTC`), canonicalized. Pure: no I/O.
//
// ECMA-402 now also accepts offsets (`+09:00`) as a time zone, but an offset is not a zone: it has
// no daylight-saving rules, so a date rendered in it is wrong half the year. Refused on purpose.

const MAX_NAME = 64
/** An IANA name's shape: letters first, then letters, digits, `_ + -`, parts joined by `/` (`Etc/GMT+9`). */
const IANA_SHAPE = /^[A-Za-z][A-Za-z0-9_+-]*(\/[A-Za-z0-9_+-]+)*$/
const known = new Map<string, string | null>()
const MAX_KNOWN = 2048

/**
 * The canonical form of an IANA time zone name (`asia/seoul` → `Asia/Seoul`), or undefined when it
 * is not one this runtime's ICU knows (offsets included). The answers are cached, bounded.
 */
export function canonicalTimeZone(name: string): string | undefined {
  if (name.length === 0 || name.length > MAX_NAME || !IANA_SHAPE.test(name)) return undefined
  const hit = known.get(name)
  if (hit !== undefined) return hit ?? undefined
  let result: string | undefined
  try {
    result = new Intl.DateTimeFormat('en', { timeZone: name }).resolvedOptions().timeZone
  } catch {
    result = undefined
  }
  if (known.size >= MAX_KNOWN) known.clear()
  known.set(name, result ?? null)
  return result
}
