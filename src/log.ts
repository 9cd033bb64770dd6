// Herald's log: one line per event, human-readable by default, one JSON object per line with
// HERALD_LOG=json (time, level, msg, and fields such as instance, worker, userId, code).
//
// What a line may say: ids, codes, counts, Herald's own words. Never a token, a key or a message
// text: callers pass none, errors are described without the driver's `detail` (which quotes row
// values), and as a last guard every line is scrubbed of the configured secrets, of URL passwords
// and of anything shaped like a JWT before it is written.

export type Fields = Record<string, unknown>

/**
 * What a module that logs receives. `console` is one (its methods take anything), so are the
 * tests' quiet stubs: a message first, then fields (or, for `error`, the error).
 */
export type Log = {
  log(message: string, fields?: Fields): void
  warn(message: string, fields?: Fields): void
  error(message: string, detail?: unknown): void
}

export type Logger = Log & {
  info(message: string, fields?: Fields): void
  /** The same log with `fields` added to every line (the instance, a worker's index). */
  child(fields: Fields): Logger
}

export type LogFormat = 'text' | 'json'

export type LoggerOptions = {
  format?: LogFormat
  /** On every line (JSON) of this logger and its children. */
  fields?: Fields
  /** Values that must never reach a line (the JWT secret, publish keys, the metrics token). */
  secrets?: readonly string[]
  /** Where lines go: by default info to stdout, warnings and errors to stderr, as before. */
  write?: (line: string, level: Level) => void
  now?: () => Date
}

type Level = 'info' | 'warn' | 'error'

const PREFIX = 'herald: '
const REDACTED = '[redacted]'
// A JWT is three base64url parts, the first a JSON header (`{"` → eyJ).
const JWT = /\beyJ[\w-]*\.[\w-]+\.[\w-]*/g
// scheme://user:password@host → the password goes.
const URL_PASSWORD = /(\b[a-z][\w+.-]*:\/\/[^\s:/@]*:)[^\s@/]+@/gi
/** Below this, a "secret" would also match ordinary words: config refuses keys that short anyway. */
const MIN_SECRET = 8

export function createLogger({ format = 'text', fields = {}, secrets = [], write = defaultWrite, now = () => new Date() }: LoggerOptions = {}): Logger {
  const scrub = scrubber(secrets)

  function emit(level: Level, message: string, detail: unknown, extra: Fields) {
    const line = format === 'json' ? jsonLine(level, message, detail, extra, now()) : textLine(message, detail)
    write(scrub(line), level)
  }

  function logger(base: Fields): Logger {
    const info = (message: string, more?: Fields) => emit('info', message, undefined, { ...base, ...more })
    return {
      log: info,
      info,
      warn: (message, more) => emit('warn', message, undefined, { ...base, ...more }),
      error(message, detail) {
        // Fields given where an error could be: they are fields like any other line's.
        if (isFields(detail)) emit('error', message, undefined, { ...base, ...detail })
        else emit('error', message, detail, base)
      },
      child: (more) => logger({ ...base, ...more }),
    }
  }

  return logger(fields)
}

/** The format before the configuration is read (a startup error): what HERALD_LOG asks, if it can tell. */
export function formatFromEnv(env: Record<string, string | undefined> = process.env): LogFormat {
  return env.HERALD_LOG?.trim().toLowerCase() === 'json' ? 'json' : 'text'
}

function defaultWrite(line: string, level: Level) {
  if (level === 'info') console.log(line)
  else console.error(line)
}

function textLine(message: string, detail: unknown): string {
  if (detail === undefined) return message
  if (detail instanceof Error) return `${message} ${describeError(detail).text}`
  return `${message} ${safeJson(detail)}`
}

function jsonLine(level: Level, message: string, detail: unknown, fields: Fields, time: Date): string {
  const msg = message.startsWith(PREFIX) ? message.slice(PREFIX.length) : message.replace(/^herald:\s*/, '')
  // An error's message belongs to the line's own: "unexpected error: alarm 3 … has no text".
  const text = detail instanceof Error ? [msg, detail.message].filter(Boolean).join(' ') : msg
  const entry: Fields = { time: time.toISOString(), level, msg: text }
  for (const [key, value] of Object.entries(fields)) if (value !== undefined && !(key in entry)) entry[key] = value
  if (detail instanceof Error) {
    const { fields: described } = describeError(detail)
    entry.error = described
    // An error may name what it is about (Herald's own set userId): a field of the line, like any other.
    for (const key of ['code', 'userId'] as const) if (described[key] !== undefined && entry[key] === undefined) entry[key] = described[key]
  } else if (detail !== undefined) entry.detail = detail
  return safeJson(entry)
}

/**
 * An error as a line may show it: its name, message, code and stack. Not the driver's `detail`,
 * `where` or parameters: PostgreSQL quotes the failing row there, texts included.
 */
function describeError(error: Error): { text: string; fields: Fields } {
  const { code, constraint_name: constraint, userId } = error as Error & { code?: unknown; constraint_name?: unknown; userId?: unknown }
  const fields: Fields = { name: error.name, message: error.message }
  if (typeof userId === 'string') fields.userId = userId
  if (typeof code === 'string' || typeof code === 'number') fields.code = code
  if (typeof constraint === 'string') fields.constraint = constraint
  if (error.stack) fields.stack = error.stack
  const suffix = [fields.code !== undefined && `code ${fields.code}`, constraint && `constraint ${constraint}`].filter(Boolean).join(', ')
  const head = error.stack ?? `${error.name}: ${error.message}`
  return { text: suffix ? `${head}\n  (${suffix})` : head, fields }
}

function isFields(value: unknown): value is Fields {
  return typeof value === 'object' && value !== null && Object.getPrototypeOf(value) === Object.prototype
}

function safeJson(value: unknown): string {
  try {
    return JSON.stringify(value, (_, item) => (typeof item === 'bigint' ? String(item) : item))
  } catch {
    return JSON.stringify(String(value))
  }
}

/** Replaces every secret, URL password and JWT in a line. */
export function scrubber(secrets: readonly string[]): (line: string) => string {
  const known = [...new Set(secrets)].filter((secret) => secret.length >= MIN_SECRET).sort((a, b) => b.length - a.length)
  return (line) => {
    let out = line.replace(URL_PASSWORD, `$1${REDACTED}@`).replace(JWT, REDACTED)
    for (const secret of known) if (out.includes(secret)) out = out.split(secret).join(REDACTED)
    return out
  }
}

export { REDACTED }

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
  log: Pick<Log, 'warn'>,
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
