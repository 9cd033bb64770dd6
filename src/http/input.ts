// Validation at the boundary: every client value is checked here, with an error naming the field,
// before anything reaches the store or the stream. Pure: no I/O.
import type { AlarmContent, NewAlarm } from '../store/alarms'
import { Errors } from '../errors'
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
  if (value.length === 0) throw Errors.invalidUserId('must not be empty')
  if (value.length > MAX_USER_ID) throw Errors.invalidUserId(`must be at most ${MAX_USER_ID} characters`)
  if (CONTROL.test(value)) throw Errors.invalidUserId('must not contain control characters')
  if (!value.isWellFormed()) throw Errors.invalidUserId('must be well-formed Unicode')
  return value
}

/**
 * The userId as the client sent it: decoded strictly from the raw path, because a lenient router
 * hands on malformed escapes (`%E0%A4%A`) or invalid UTF-8 as if they were names.
 */
export function pathUserId(pathname: string): string {
  try {
    return lastSegment(pathname)
  } catch {
    throw Errors.invalidUserId('is not valid percent-encoded UTF-8')
  }
}

/** The last non-empty segment of a path, decoded (Elysia also routes `/connection/name/` to `:userId`). */
function lastSegment(pathname: string): string {
  const path = pathname.endsWith('/') ? pathname.slice(0, -1) : pathname
  return decodeURIComponent(path.slice(path.lastIndexOf('/') + 1))
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

const PUBLISH_FIELDS = new Set(['userId', 'messages', 'template', 'params', 'data', 'key'])

export function parsePublishBody(body: unknown): NewAlarm {
  if (!isPlainObject(body)) throw Errors.invalidBody('body', 'must be a JSON object')
  for (const field of Object.keys(body))
    if (!PUBLISH_FIELDS.has(field)) throw Errors.invalidBody(field, 'is not a known field')
  const userId = parseUserId(body.userId)
  const content = parseContent(body)
  const data = body.data ?? {}
  if (!isPlainObject(data)) throw Errors.invalidBody('data', 'must be a JSON object')
  checkJsonValue(data, 'data', 0)
  const key = body.key
  if (key !== undefined && (typeof key !== 'string' || key.length === 0 || key.length > MAX_KEY))
    throw Errors.invalidBody('key', `must be a string of 1 to ${MAX_KEY} characters`)
  return { userId, ...content, data, ...(key !== undefined ? { key } : {}) }
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
  return { template: { key, params } }
}

export const MAX_TEMPLATE_KEY = 200
const TEMPLATE_KEY = /^[A-Za-z0-9._-]{1,200}$/
/** Taken by GET /templates/coverage. */
const RESERVED_KEYS = new Set(['coverage'])

function isTemplateKey(value: string): boolean {
  return TEMPLATE_KEY.test(value)
}

/** The `:key` of /templates/:key, from the raw path (decoded strictly, as user ids are). */
export function pathTemplateKey(pathname: string, { creating = false } = {}): string {
  let key: string
  try {
    key = lastSegment(pathname)
  } catch {
    throw Errors.invalidTemplateKey(pathname.slice(pathname.lastIndexOf('/') + 1), 'is not valid percent-encoded UTF-8')
  }
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
    if (!text.isWellFormed()) throw Errors.invalidBody(`messages.${raw}`, 'must be well-formed Unicode')
    if (text.includes('\0')) throw Errors.invalidBody(`messages.${raw}`, 'must not contain NUL')
    out[locale] = text
  }
  if (Object.keys(out).length === 0) throw Errors.invalidBody('messages', 'must hold at least one locale')
  return out
}

/** Reads a JSON body of at most `limit` bytes. */
export async function readJson(request: Request, limit = MAX_BODY_BYTES): Promise<unknown> {
  const type = request.headers.get('content-type') ?? ''
  if (!/^application\/([\w.+-]*\+)?json\s*(;|$)/i.test(type)) throw Errors.unsupportedMediaType()
  const declared = Number(request.headers.get('content-length') ?? NaN)
  if (declared > limit) throw Errors.payloadTooLarge(limit)
  const bytes = await request.arrayBuffer()
  if (bytes.byteLength > limit) throw Errors.payloadTooLarge(limit)
  let text: string
  try {
    text = new TextDecoder('utf-8', { fatal: true }).decode(bytes)
  } catch {
    throw Errors.invalidJson('body is not valid UTF-8')
  }
  try {
    return JSON.parse(text)
  } catch (error) {
    throw Errors.invalidJson(`body is not valid JSON: ${(error as Error).message}`)
  }
}

const MAX_DEPTH = 32

/** What PostgreSQL's jsonb refuses (NUL, lone surrogates, absurd nesting) is refused here first. */
function checkJsonValue(value: unknown, path: string, depth: number): void {
  if (depth > MAX_DEPTH) throw Errors.invalidBody(path, `nests deeper than ${MAX_DEPTH} levels`)
  if (typeof value === 'string') {
    if (!value.isWellFormed() || value.includes('\0'))
      throw Errors.invalidBody(path, 'holds a string with NUL or unpaired surrogates')
  } else if (Array.isArray(value)) {
    value.forEach((item, i) => checkJsonValue(item, `${path}[${i}]`, depth + 1))
  } else if (isPlainObject(value)) {
    for (const [key, item] of Object.entries(value)) {
      checkJsonValue(key, path, depth + 1)
      checkJsonValue(item, `${path}.${key}`, depth + 1)
    }
  }
}

function isPlainObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value)
}
