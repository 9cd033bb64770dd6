// Log lines a client can cause (a body cut off, too large, too slow): one line each, at warn, and
// at most `perMinute` of a kind a minute, so that no client can flood the log by misbehaving.

export type LimitedLog = {
  /** Writes `herald: <line>` unless this minute already had `perMinute` lines of this kind. */
  warn(kind: string, line: string): void
}

export type LimitedLogOptions = {
  perMinute?: number
  /** The clock, in ms (tests turn it by hand). */
  now?: () => number
}

const MINUTE = 60_000

export function createLimitedLog(
  log: Pick<Console, 'warn'>,
  { perMinute = 10, now = () => performance.now() }: LimitedLogOptions = {},
): LimitedLog {
  // One entry per kind: the kinds are Herald's own words, never a client's, so this stays small.
  const minutes = new Map<string, { start: number; lines: number; suppressed: number }>()

  return {
    warn(kind, line) {
      const at = now()
      let minute = minutes.get(kind)
      let dropped = 0
      if (!minute || at - minute.start >= MINUTE) {
        dropped = minute?.suppressed ?? 0
        minute = { start: at, lines: 0, suppressed: 0 }
        minutes.set(kind, minute)
      }
      minute.lines++
      if (minute.lines <= perMinute)
        log.warn(`herald: ${oneLine(line)}` + (dropped ? ` (and ${dropped} more ${kind} before, not logged)` : ''))
      else {
        minute.suppressed++
        if (minute.lines === perMinute + 1)
          log.warn(`herald: more than ${perMinute} ${kind} in a minute; the rest of this minute's are not logged`)
      }
    },
  }
}

/** Control characters escaped, so that a quoted value can neither end the line nor forge another. */
function oneLine(text: string): string {
  return text.replace(/[\u0000-\u001f\u007f]/g, (char) => JSON.stringify(char).slice(1, -1))
}
