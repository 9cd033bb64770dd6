// Validation at the boundary: every client value is checked here, with an error naming the field,
// before anything reaches the store or the stream. No I/O but reading the request's body.
import type { AlarmContent, Expiry, NewAlarm } from '../store/alarms'
import { Errors, HeraldError } from '../errors'
import { DEVICE } from '../devices'
import { canonicalLocale } from '../locale'
import { canonicalTimeZone } from '../time-zone'

export const MAX_USER_ID = 200
export const MAX_MESSAGE = 4000
export const MAX_KEY = 200
export const MAX_BODY_BYTES = 64 * 1024
/** Languages one alarm may carry: every language of CLDR's modern coverage fits several times over. */
export const MAX_ALARM_LOCALES = 100

const CONTROL = /[\u0000-\u001f\u007f-\u009f]/

export function parseUserId(value: unknown, field = 'userId'): string {
  if (typeof value !== 'string') throw Errors.invalidBody(field, 'must be a string')
  if (value.length === 0) throw Errors.invalidUserId('must not be empty', field)
  if (value.length > MAX_USER_ID) throw Errors.invalidUserId(`must be at most ${MAX_USER_ID} characters`, field)
  if (CONTROL.test(value)) throw Errors.invalidUserId('must not contain control characters', field)
  if (!value.isWellFormed()) throw Errors.invalidUserId('must be well-formed Unicode', field)
  // No URL can name them: /connection/. and /connection/%2e are dot segments, never a user.
  if (value === '.' || value === '..') throw Errors.invalidUserId('must not be . or ..', field)
  return value
}

/**
 * The userId as the client sent it: decoded strictly from the path, because a lenient router
 * hands on malformed escapes (`%E0%A4%A`) or invalid UTF-8 as if they were names. `routed` is the
 * router's reading of the target as sent; the path here is request.url's, which the URL parser has
 * rewritten (`/connection/%2e` → `/connection/`, `a\b` → `a/b`, `x#y` → `x`): when the two
 * disagree, the request named no user a path can name.
 */
export function pathUserId(pathname: string, routed?: string): string {
  // Elysia's own router (app.handle) also routes `/connection/name/` here: the name is the last
  // non-empty segment.
  const path = pathname.endsWith('/') ? pathname.slice(0, -1) : pathname
  const raw = path.slice(path.lastIndexOf('/') + 1)
  let userId: string
  try {
    userId = decodeURIComponent(raw)
  } catch {
    throw Errors.invalidUserId('is not valid percent-encoded UTF-8')
  }
  if (routed !== undefined && routed !== userId) throw Errors.pathNotCanonical()
  return userId
}

/** A stream's device (`?device=`, else `Herald-Device`); none is the user's unnamed device. */
export function parseDevice(value: string | null): string | undefined {
  if (value === null) return undefined
  if (!DEVICE.test(value)) throw Errors.invalidDevice(value)
  return value
}

/** An SSE event id, as `Last-Event-ID` or `since` carries it: the seq of the last alarm seen. */
export function parseCursor(value: string, where: string): number {
  if (!/^\d{1,15}$/.test(value)) throw Errors.invalidCursor(where, value)
  return Number(value)
}

/** The resume point: `Last-Event-ID` wins over `since`; an empty header means "none". */
export function resumeCursor(header: string | null, since: string | undefined): number | undefined {
  if (header !== null && header !== '') return parseCursor(header, 'Last-Event-ID')
  if (since !== undefined) return parseCursor(since, 'since')
  return undefined
}

/** What an alarm is, besides whose: the fields a publish, a batch's item and a fan-out share. */
export const ALARM_FIELDS = ['messages', 'template', 'params', 'data', 'key', 'expiresAt', 'ttl'] as const
const PUBLISH_FIELDS = new Set(['userId', ...ALARM_FIELDS])

/** HERALD_MAX_TTL's default: an alarm may be set to expire at most a year from now. */
export const DEFAULT_MAX_TTL_SECONDS = 365 * 86_400

export type PublishRules = {
  /** The furthest expiry a publish may set, in seconds from now. */
  maxTtlSeconds?: number
  /** The clock `expiresAt` is checked against (tests move it). */
  now?: () => number
}

export function parsePublishBody(body: unknown, rules: PublishRules = {}): NewAlarm {
  if (!isPlainObject(body)) throw Errors.invalidBody('body', 'must be a JSON object')
  for (const field of Object.keys(body))
    if (!PUBLISH_FIELDS.has(field)) throw Errors.invalidBody(field, 'is not a known field')
  const userId = parseUserId(body.userId)
  return { userId, ...parseAlarmFields(body, rules) }
}

/** An alarm without its user: its content, data, key and expiry. */
export type AlarmFields = Pick<NewAlarm, 'data' | 'key' | 'expiry'> & AlarmContent

/** The fields of ALARM_FIELDS, checked (the caller has refused the fields it does not know). */
export function parseAlarmFields(body: Record<string, unknown>, rules: PublishRules = {}): AlarmFields {
  const content = parseContent(body)
  const data = body.data ?? {}
  if (!isPlainObject(data)) throw Errors.invalidBody('data', 'must be a JSON object')
  checkJsonValue(data, 'data', 0)
  const key = parseKey(body.key)
  const expiry = parseExpiry(body, rules)
  return { ...content, data, ...(key !== undefined ? { key } : {}), ...(expiry ? { expiry } : {}) }
}

/** ISO 8601 with a date, a time and a zone: a time without a zone means a different instant on every server. */
const INSTANT = /^(\d{4})-(\d{2})-(\d{2})T(\d{2}):(\d{2})(?::(\d{2})(?:\.\d{1,9})?)?(?:Z|[+-](\d{2}):(\d{2}))$/i

/**
 * `expiresAt` (an instant in the future) or `ttl` (whole seconds from the commit), at most
 * `maxTtlSeconds` ahead; one of them or neither.
 */
function parseExpiry(body: Record<string, unknown>, { maxTtlSeconds = DEFAULT_MAX_TTL_SECONDS, now = Date.now }: PublishRules): Expiry | undefined {
  const { expiresAt, ttl } = body
  if (expiresAt !== undefined && ttl !== undefined) throw Errors.invalidBody('ttl', 'and expiresAt exclude each other: send one')
  if (ttl !== undefined) {
    if (typeof ttl !== 'number' || !Number.isInteger(ttl) || ttl < 1 || ttl > maxTtlSeconds)
      throw Errors.invalidBody('ttl', `must be a whole number of seconds from 1 to ${maxTtlSeconds} (HERALD_MAX_TTL)`)
    return { ttl }
  }
  if (expiresAt === undefined) return undefined
  const at = typeof expiresAt === 'string' ? instant(expiresAt) : undefined
  if (at === undefined)
    throw Errors.invalidBody('expiresAt', 'must be an ISO 8601 date and time with a zone, like 2026-12-31T23:59:59Z')
  const time = now()
  if (at <= time) throw Errors.invalidBody('expiresAt', 'must be in the future')
  if (at > time + maxTtlSeconds * 1000)
    throw Errors.invalidBody('expiresAt', `must be at most ${maxTtlSeconds} seconds from now (HERALD_MAX_TTL)`)
  return { at: new Date(at).toISOString() }
}

/** Milliseconds since the epoch, or undefined for a string that is not a real instant (month 13, 30 February, 24:00). */
function instant(text: string): number | undefined {
  const m = INSTANT.exec(text)
  if (!m) return undefined
  const [year, month, day, hour, minute, second, offsetHours, offsetMinutes] = m.slice(1).map((part) => Number(part ?? 0)) as number[]
  const calendar = new Date(Date.UTC(year!, month! - 1, day!))
  if (calendar.getUTCMonth() !== month! - 1 || calendar.getUTCDate() !== day!) return undefined
  if (hour! > 23 || minute! > 59 || second! > 59 || offsetHours! > 23 || offsetMinutes! > 59) return undefined
  const at = Date.parse(text)
  return Number.isNaN(at) ? undefined : at
}

function parseKey(key: unknown): string | undefined {
  if (key === undefined) return undefined
  if (typeof key !== 'string' || key.length === 0 || key.length > MAX_KEY)
    throw Errors.invalidBody('key', `must be a string of 1 to ${MAX_KEY} characters`)
  // A key is compared as stored: one PostgreSQL would change (U+FFFD for a lone surrogate) could
  // match another client's key, one it refuses (NUL) would be a 500.
  if (!storable(key)) throw Errors.invalidBody('key', 'must be well-formed Unicode without NUL')
  return key
}

/** PostgreSQL text holds it exactly: no NUL (refused), no lone surrogate (UTF-8 has none). */
function storable(text: string): boolean {
  return text.isWellFormed() && !text.includes('\0')
}

/** Exactly one of `messages` (the texts) or `template` with its `params`. */
function parseContent(body: Record<string, unknown>): AlarmContent {
  if (body.template === undefined) {
    if (body.params !== undefined) throw Errors.invalidBody('params', 'goes with template (a template key); with messages there are none')
    return { messages: parseMessages(body.messages, 'is required (or template and params)') }
  }
  if (body.messages !== undefined) throw Errors.invalidBody('template', 'and messages exclude each other: send one')
  const key = body.template
  if (typeof key !== 'string' || !isTemplateKey(key))
    throw Errors.invalidBody('template', `must be a template key: 1 to ${MAX_TEMPLATE_KEY} of A-Z a-z 0-9 . _ -`)
  const params = body.params ?? {}
  if (!isPlainObject(params)) throw Errors.invalidBody('params', 'must be a JSON object of argument → value')
  checkJsonValue(params, 'params', 0)
  return { template: { key, params } }
}

export const MAX_TEMPLATE_KEY = 200
export const TEMPLATE_KEY = /^[A-Za-z0-9._-]{1,200}$/
/** Taken by GET /templates/coverage. */
const RESERVED_KEYS = new Set(['coverage'])

function isTemplateKey(value: string): boolean {
  return TEMPLATE_KEY.test(value)
}

/**
 * The `:key` of /templates/:key, from the raw path (decoded strictly, as user ids are), and the one
 * Bun's router read from the target as sent (see pathUserId).
 */
export function pathTemplateKey(pathname: string, { creating = false, routed }: { creating?: boolean; routed?: string } = {}): string {
  let key: string
  try {
    key = lastSegment(pathname)
  } catch {
    throw Errors.invalidTemplateKey(pathname.slice(pathname.lastIndexOf('/') + 1), 'is not valid percent-encoded UTF-8')
  }
  if (routed !== undefined && routed !== key) throw Errors.pathNotCanonical()
  if (!isTemplateKey(key)) throw Errors.invalidTemplateKey(key)
  if (creating && RESERVED_KEYS.has(key)) throw Errors.invalidTemplateKey(key, 'is reserved (GET /templates/coverage)')
  return key
}

const TEMPLATE_FIELDS = new Set(['messages', 'description'])
export const MAX_DESCRIPTION = 1000

/** The body of PUT /templates/:key: its texts (locales checked as a publish's) and a description. */
export function parseTemplateBody(body: unknown): { messages: Record<string, string>; description: string | null } {
  if (!isPlainObject(body)) throw Errors.invalidBody('body', 'must be a JSON object')
  for (const field of Object.keys(body))
    if (!TEMPLATE_FIELDS.has(field)) throw Errors.invalidBody(field, 'is not a known field')
  const messages = parseMessages(body.messages, 'is required: locale → ICU MessageFormat text')
  const description = body.description ?? null
  if (description !== null && (typeof description !== 'string' || description.length > MAX_DESCRIPTION || !description.isWellFormed() || description.includes('\0')))
    throw Errors.invalidBody('description', `must be a string of at most ${MAX_DESCRIPTION} characters (well-formed, no NUL)`)
  return { messages, description }
}

/** `?tz=`: an IANA time zone name, canonicalized; absent → the default. */
export function parseTimeZone(value: string | null, fallback: string): string {
  if (value === null) return fallback
  const zone = canonicalTimeZone(value)
  if (!zone) throw Errors.invalidTimeZone('tz', value)
  return zone
}

export const MAX_PAGE = 100

/** `?after=<key>&limit=<n>` of a list of templates. */
export function parsePage(url: URL): { after: string | undefined; limit: number } {
  const after = url.searchParams.get('after') ?? undefined
  if (after !== undefined && !isTemplateKey(after)) throw Errors.invalidQuery('after', 'must be a template key (the `next` of the previous page)')
  const raw = url.searchParams.get('limit')
  if (raw !== null && !/^\d{1,3}$/.test(raw)) throw Errors.invalidQuery('limit', `must be a whole number from 1 to ${MAX_PAGE}`)
  const limit = raw === null ? 50 : Number(raw)
  if (limit < 1 || limit > MAX_PAGE) throw Errors.invalidQuery('limit', `must be a whole number from 1 to ${MAX_PAGE}`)
  return { after, limit }
}

/** The last non-empty segment of a path, decoded strictly (throws on a broken escape). */
function lastSegment(pathname: string): string {
  const path = pathname.endsWith('/') ? pathname.slice(0, -1) : pathname
  return decodeURIComponent(path.slice(path.lastIndexOf('/') + 1))
}

function parseMessages(value: unknown, missing: string): Record<string, string> {
  if (value === undefined) throw Errors.invalidBody('messages', missing)
  if (!isPlainObject(value)) throw Errors.invalidBody('messages', 'must be an object of locale → text')
  const out: Record<string, string> = {}
  const entries = Object.entries(value)
  if (entries.length > MAX_ALARM_LOCALES)
    throw Errors.tooManyLocales(`messages holds ${entries.length} languages; an alarm may carry at most ${MAX_ALARM_LOCALES}`)
  for (const [raw, text] of entries) {
    const locale = canonicalLocale(raw)
    if (!locale) throw Errors.invalidLocale(raw, 'messages')
    if (locale in out) throw Errors.invalidBody(`messages.${raw}`, `repeats locale ${locale}`)
    if (typeof text !== 'string') throw Errors.invalidBody(`messages.${raw}`, 'must be a string')
    if (text.length === 0) throw Errors.invalidBody(`messages.${raw}`, 'must not be empty')
    if (text.length > MAX_MESSAGE)
      throw Errors.invalidBody(`messages.${raw}`, `must be at most ${MAX_MESSAGE} characters`)
    if (!storable(text)) throw Errors.invalidBody(`messages.${raw}`, 'must be well-formed Unicode without NUL')
    out[locale] = text
  }
  if (Object.keys(out).length === 0) throw Errors.invalidBody('messages', 'must hold at least one locale')
  return out
}

export type BodyLimits = {
  /** The route's cap: one byte more is a 413, answered at once. */
  maxBytes?: number
  /**
   * A larger cap for a body that declares its length (Content-Length): a route that takes bodies
   * of two sizes (POST /alarms: one alarm, or a fan-out) reads up to this, then checks which it
   * got. A body without a declared length is held to `maxBytes` as it arrives.
   */
  maxDeclaredBytes?: number
  /** How long the whole body may take to arrive, then a 408: trickled, it could take days. */
  timeoutMs?: number
}

export const BODY_TIMEOUT_MS = 10_000

/** Reads a JSON body within the route's limits. */
export async function readJson(request: Request, limits: BodyLimits = {}): Promise<unknown> {
  return (await readSizedJson(request, limits)).value
}

/** Reads a JSON body within the route's limits; `bytes` is how large it was. */
export async function readSizedJson(
  request: Request,
  { maxBytes = MAX_BODY_BYTES, maxDeclaredBytes = maxBytes, timeoutMs = BODY_TIMEOUT_MS }: BodyLimits = {},
): Promise<{ value: unknown; bytes: number }> {
  const type = request.headers.get('content-type') ?? ''
  if (!/^application\/([\w.+-]*\+)?json\s*(;|$)/i.test(type)) throw Errors.unsupportedMediaType()
  const bytes = await readBody(request, maxBytes, Math.max(maxBytes, maxDeclaredBytes), timeoutMs)
  let text: string
  try {
    text = new TextDecoder('utf-8', { fatal: true }).decode(bytes)
  } catch {
    throw Errors.invalidJson('body is not valid UTF-8')
  }
  return { value: parseExactly(text), bytes: bytes.byteLength }
}

/**
 * The body's bytes, within the limits: refused at once when Content-Length says more than
 * `maxDeclaredBytes`, never waited for longer than `timeoutMs`. A declared length is read in one go (Bun
 * reads no byte past it, and a stream reader costs a small body half its throughput); a chunked
 * body is counted as it arrives and refused as soon as it passes `maxBytes`, never buffered whole.
 */
async function readBody(request: Request, maxBytes: number, maxDeclaredBytes: number, timeoutMs: number): Promise<Uint8Array> {
  const length = request.headers.get('content-length')
  const declared = length === null ? NaN : Number(length)
  if (declared > maxDeclaredBytes) throw Errors.payloadTooLarge(maxDeclaredBytes)
  if (!request.body) return new Uint8Array(0)
  let timer: Timer | undefined
  const late = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(Errors.requestTimeout(timeoutMs)), timeoutMs)
  })
  const reading = Number.isSafeInteger(declared) ? request.arrayBuffer().then((b) => new Uint8Array(b)) : readChunks(request.body, maxBytes)
  try {
    return await Promise.race([reading, late])
  } catch (error) {
    reading.catch(() => {}) // after a 408 the read ends with the connection; nobody waits for it
    if (error instanceof HeraldError) throw error
    // The client went away mid-body, or Bun's idle timeout cut it: nobody is left to answer.
    throw Errors.bodyCutOff()
  } finally {
    clearTimeout(timer)
  }
}

/** A body without a declared length, chunk by chunk, counted. */
async function readChunks(body: ReadableStream<Uint8Array>, maxBytes: number): Promise<Uint8Array> {
  const reader = body.getReader()
  const chunks: Uint8Array[] = []
  let size = 0
  try {
    for (;;) {
      const { done, value } = await reader.read()
      if (done) break
      size += value.byteLength
      if (size > maxBytes) throw Errors.payloadTooLarge(maxBytes)
      chunks.push(value)
    }
  } finally {
    reader.cancel().catch(() => {})
  }
  return concat(chunks, size)
}

function concat(chunks: Uint8Array[], size: number): Uint8Array {
  const bytes = new Uint8Array(size)
  let at = 0
  for (const chunk of chunks) {
    bytes.set(chunk, at)
    at += chunk.byteLength
  }
  return bytes
}

type Inexact = { holder: unknown; key: string; source: string }

/**
 * JSON.parse, refusing any number a double cannot hold exactly (`12345678901234567890`, `1e309`):
 * it would be stored changed without a word. The number's own text comes from the reviver's
 * `context.source` (the JSON.parse source text access proposal, in JavaScriptCore).
 */
function parseExactly(text: string): unknown {
  let inexact: Inexact | undefined
  let value: unknown
  try {
    // A reviver makes JSON.parse several times slower. A number without an exponent and with at
    // most 15 significant digits always survives a double, so without a longer run of digits (or
    // an `e` after a digit) anywhere in the text, no number can change.
    if (!/[\d.]{16}|\d[eE]/.test(text)) return JSON.parse(text)
    value = JSON.parse(text, function (this: unknown, key: string, value: unknown, context?: { source?: string }) {
      if (typeof value === 'number' && !inexact && context?.source !== undefined && !sameNumber(context.source, value))
        inexact = { holder: this, key, source: context.source }
      return value
    })
  } catch (error) {
    throw Errors.invalidJson(`body is not valid JSON: ${(error as Error).message}`)
  }
  if (inexact) throw Errors.inexactNumber(pathTo(value, inexact) ?? 'body', inexact.source)
  return value
}

/** Whether a JSON number's text denotes exactly the double it was read as (`1.0` and `1e0` do). */
function sameNumber(source: string, value: number): boolean {
  return source === String(value) || decimal(source) === decimal(String(value))
}

/** A number's text as `<sign><digits without leading or trailing zeros>e<exponent>`; Infinity → undefined. */
function decimal(text: string): string | undefined {
  const match = /^(-?)(\d+)(?:\.(\d+))?(?:[eE]([+-]?\d+))?$/.exec(text)
  if (!match) return undefined
  const [, sign, int, frac = '', exp = '0'] = match
  const digits = (int! + frac).replace(/^0+/, '')
  if (digits === '') return '0' // -0 is 0 to every store
  const significant = digits.replace(/0+$/, '')
  const exponent = BigInt(exp) - BigInt(frac.length) + BigInt(digits.length - significant.length)
  return `${sign}${significant}e${exponent}`
}

/** Where in the parsed body the number sits, as messages name fields: `data.a[1].b`. */
function pathTo(value: unknown, inexact: Inexact, path = ''): string | undefined {
  const { holder, key } = inexact
  const step = (name: string, array: boolean) => (array ? `${path}[${name}]` : path ? `${path}.${name}` : name)
  if (value === holder) return step(key, Array.isArray(holder))
  if (typeof value !== 'object' || value === null) return undefined
  for (const [name, item] of Object.entries(value)) {
    const found = pathTo(item, inexact, step(name, Array.isArray(value)))
    if (found) return found
  }
  return undefined
}

const MAX_DEPTH = 32

/** What PostgreSQL's jsonb refuses (NUL, lone surrogates, absurd nesting) is refused here first. */
function checkJsonValue(value: unknown, path: string, depth: number): void {
  if (depth > MAX_DEPTH) throw Errors.invalidBody(path, `nests deeper than ${MAX_DEPTH} levels`)
  if (typeof value === 'string') {
    if (!storable(value)) throw Errors.invalidBody(path, 'holds a string with NUL or unpaired surrogates')
  } else if (Array.isArray(value)) {
    value.forEach((item, i) => checkJsonValue(item, `${path}[${i}]`, depth + 1))
  } else if (isPlainObject(value)) {
    for (const [key, item] of Object.entries(value)) {
      checkJsonValue(key, path, depth + 1)
      checkJsonValue(item, `${path}.${key}`, depth + 1)
    }
  }
}

export function isPlainObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value)
}
