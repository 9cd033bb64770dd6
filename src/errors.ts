// The error catalogue: every code Herald answers with, its HTTP status, and the one factory that
// builds it. The README's error table lists exactly these codes (a test holds the two together).

/** Code → HTTP status. A client is written against these words: never rename one. */
export const CODES = {
  INVALID_LOCALE: 400,
  INVALID_USER_ID: 400,
  INVALID_CURSOR: 400,
  INVALID_DEVICE: 400,
  INVALID_JSON: 400,
  INVALID_BODY: 400,
  INVALID_QUERY: 400,
  TOO_MANY_LOCALES: 400,
  INVALID_TEMPLATE: 400,
  INVALID_TEMPLATE_KEY: 400,
  UNKNOWN_TEMPLATE: 400,
  INVALID_PARAMS: 400,
  INVALID_TIME_ZONE: 400,
  UNAUTHORIZED: 401,
  FORBIDDEN: 403,
  NOT_FOUND: 404,
  ALARM_NOT_FOUND: 404,
  TEMPLATE_NOT_FOUND: 404,
  METHOD_NOT_ALLOWED: 405,
  REQUEST_TIMEOUT: 408,
  IDEMPOTENCY_CONFLICT: 409,
  TEMPLATE_ARGUMENTS_CHANGED: 409,
  PAYLOAD_TOO_LARGE: 413,
  UNSUPPORTED_MEDIA_TYPE: 415,
  RATE_LIMITED: 429,
  HEADERS_TOO_LARGE: 431,
  INTERNAL: 500,
  TOO_MANY_STREAMS: 503,
  USER_BUSY: 503,
  UNAVAILABLE: 503,
  DATABASE_UNAVAILABLE: 503,
} as const

export type Code = keyof typeof CODES

/**
 * What an alarm event's `renderError` may say: the stored alarm no longer fits its template, and
 * was shown as well as it could be. Codes of the catalogue, so a client reads one vocabulary.
 */
export const RENDER_ERRORS = {
  /** Its params miss an argument or hold a wrong type (written by SQL): those show as `{name}`. */
  invalidParams: 'INVALID_PARAMS',
  /** The template's text in this locale cannot be formatted (written by SQL): shown as written. */
  invalidTemplate: 'INVALID_TEMPLATE',
  /** The template is gone (a direct writer deleted it): the key is shown. */
  unknownTemplate: 'UNKNOWN_TEMPLATE',
} as const satisfies Record<string, Code>

export type RenderError = (typeof RENDER_ERRORS)[keyof typeof RENDER_ERRORS]

/**
 * Each code by its name (`C.NOT_FOUND` is 'NOT_FOUND'): how other modules (the API document) name
 * codes without writing them as strings, so every literal stays here.
 */
export const C = Object.fromEntries(Object.keys(CODES).map((code) => [code, code])) as { readonly [K in Code]: K }

/** An error a client caused or must know about: a stable `code`, its HTTP status, a message. */
export class HeraldError extends Error {
  readonly code: Code
  readonly status: number
  readonly headers: Record<string, string>
  /**
   * Set where the client broke the exchange itself (a body cut off, too large, too slow): the
   * kind of one rate-limited warn line. Other client errors are answered, not logged.
   */
  readonly log: string | undefined

  constructor(code: Code, message: string, headers: Record<string, string> = {}, log?: string) {
    super(message)
    this.name = 'HeraldError'
    this.code = code
    this.status = CODES[code]
    this.headers = headers
    this.log = log
  }
}

// Answered before the body was read to its end: the rest is not worth receiving, as Bun's own
// limit does it.
const UNREAD_BODY = { connection: 'close' }

export const Errors = {
  invalidLocale: (tag: string, where: string) =>
    new HeraldError('INVALID_LOCALE', `${where}: '${clip(tag)}' is not a known BCP 47 language tag`),
  invalidUserId: (why: string, field = 'userId') => new HeraldError('INVALID_USER_ID', `${field} ${why}`),
  invalidCursor: (where: string, value: string) =>
    new HeraldError('INVALID_CURSOR', `${where}: '${clip(value)}' is not a valid event id (a non-negative integer)`),
  invalidDevice: (value: string) =>
    new HeraldError('INVALID_DEVICE', `device: '${clip(value, 70)}' is not 1 to 64 of A-Z, a-z, 0-9, '.', '_' and '-'`),
  invalidJson: (message: string) => new HeraldError('INVALID_JSON', message),
  invalidBody: (field: string, message: string) => new HeraldError('INVALID_BODY', `${field}: ${message}`),
  invalidQuery: (parameter: string, message: string) => new HeraldError('INVALID_QUERY', `${parameter}: ${message}`),
  alarmNotFound: (id: number) => new HeraldError('ALARM_NOT_FOUND', `alarm ${id} is not one of this user's alarms; nothing was changed`),
  noSuchAlarm: (segment: string) =>
    new HeraldError('ALARM_NOT_FOUND', `'${clip(segment)}' is not an alarm id (a positive integer); nothing was changed`),
  tooManyLocales: (why: string) => new HeraldError('TOO_MANY_LOCALES', `too many languages: ${why}`),
  inexactNumber: (path: string, source: string) =>
    new HeraldError('INVALID_BODY', `${path}: ${clip(source)} cannot be stored exactly (send it as a string)`),
  invalidTemplate: (where: string, why: string) => new HeraldError('INVALID_TEMPLATE', `${where}: ${why}`),
  invalidTemplateKey: (key: string, why = 'must be 1 to 200 of A-Z a-z 0-9 . _ -') =>
    new HeraldError('INVALID_TEMPLATE_KEY', `template key '${clip(key)}' ${why}`),
  unknownTemplate: (key: string) =>
    new HeraldError('UNKNOWN_TEMPLATE', `no template '${clip(key)}' (PUT /templates/${clip(key)} creates it)`),
  invalidParams: (field: string, why: string) => new HeraldError('INVALID_PARAMS', `${field}: ${why}`),
  invalidTimeZone: (where: string, value: string) =>
    new HeraldError(
      'INVALID_TIME_ZONE',
      `${where}: '${clip(value)}' is not an IANA time zone name (like Asia/Seoul or UTC; an offset such as +09:00 is not one)`,
    ),
  templateNotFound: (key: string) => new HeraldError('TEMPLATE_NOT_FOUND', `no template '${clip(key)}'`),
  templateArgumentsChanged: (key: string, before: string, after: string) =>
    new HeraldError(
      'TEMPLATE_ARGUMENTS_CHANGED',
      `template '${clip(key)}' takes ${before}; these texts take ${after}. Its arguments are fixed once created ` +
        '(stored alarms hold params for them): make a new key',
    ),
  unauthorized: (message: string) =>
    new HeraldError('UNAUTHORIZED', message, { 'www-authenticate': 'Bearer realm="herald"' }),
  forbidden: () => new HeraldError('FORBIDDEN', "the token's subject is another user"),
  notFound: (path: string) => new HeraldError('NOT_FOUND', `no route for ${clip(path)}`),
  pathNotCanonical: () =>
    new HeraldError('NOT_FOUND', 'no route has this path as sent: . and .. segments (also %2e), \\ and # name none'),
  methodNotAllowed: (method: string, path: string, allowed: readonly string[]) =>
    new HeraldError('METHOD_NOT_ALLOWED', `${clip(method)} is not allowed on ${clip(path)}; use ${allowed.join(' or ')}`, {
      allow: allowed.join(', '),
    }),
  idempotencyConflict: (key: string) =>
    new HeraldError('IDEMPOTENCY_CONFLICT', `key '${clip(key)}' was already used for this user with a different alarm`),
  fanOutDifferent: (key: string, where: string) =>
    new HeraldError('IDEMPOTENCY_CONFLICT', `${where}: key '${clip(key)}' was already used for this user with a different alarm; nothing was stored`),
  fanOutConflict: (key: string, holder: string, missing: string) =>
    new HeraldError(
      'IDEMPOTENCY_CONFLICT',
      `key '${clip(key)}' was already used by a publish to other users: ${holder} holds an alarm with it, ${missing} does not; nothing was stored`,
    ),
  bodyCutOff: () =>
    new HeraldError('INVALID_BODY', 'body: the connection closed before the body was complete', {}, 'bodies cut off'),
  requestTimeout: (ms: number) =>
    new HeraldError('REQUEST_TIMEOUT', `the body did not arrive within ${ms} ms`, UNREAD_BODY, 'bodies too slow'),
  payloadTooLarge: (limit: number) =>
    new HeraldError('PAYLOAD_TOO_LARGE', `request body is larger than ${limit} bytes`, UNREAD_BODY, 'bodies too large'),
  unsupportedMediaType: () => new HeraldError('UNSUPPORTED_MEDIA_TYPE', 'Content-Type must be application/json'),
  rateLimited: (what: string, waitMs: number) =>
    new HeraldError('RATE_LIMITED', `too many ${what}; retry in ${Math.ceil(waitMs / 1000)} s`, {
      'retry-after': String(Math.max(1, Math.ceil(waitMs / 1000))),
    }),
  headersTooLarge: (limit: number) =>
    new HeraldError('HEADERS_TOO_LARGE', `request headers are larger than ${limit} bytes`),
  internal: () => new HeraldError('INTERNAL', 'internal error'),
  tooManyStreams: (max: number) =>
    new HeraldError('TOO_MANY_STREAMS', `this process holds its maximum of ${max} streams; retry shortly`, {
      'retry-after': '5',
    }),
  userBusy: (waitedMs: number) =>
    new HeraldError(
      'USER_BUSY',
      `another transaction has held this user's alarms for over ${waitedMs} ms; nothing was stored; retry`,
      { 'retry-after': '1' },
    ),
  unavailable: (message = 'the database is unreachable; try again') => new HeraldError('UNAVAILABLE', message),
  databaseUnavailable: () => new HeraldError('DATABASE_UNAVAILABLE', 'PostgreSQL does not answer'),
}

/** Codes whose messages do not begin with the field they are about (the others' do: `messages.ko: …`, `userId must …`). */
const FIELD_OF: Partial<Record<Code, string>> = {
  TOO_MANY_LOCALES: 'messages',
  UNKNOWN_TEMPLATE: 'template',
  IDEMPOTENCY_CONFLICT: 'key',
}

/**
 * The error of one part of a request (a batch's item), naming the part: a message that begins
 * with its field gets the part in front of the field (`alarms[3].messages.ko: …`); one about the
 * whole body (`body: …`) names the part instead; the others get the part and their field. The
 * code, status and headers stay the error's own. Anything but a HeraldError is left as it is.
 */
export function inPart(error: unknown, part: string): unknown {
  if (!(error instanceof HeraldError)) return error
  const field = FIELD_OF[error.code]
  const message =
    field !== undefined
      ? `${part}.${field}: ${error.message}`
      : error.message.startsWith('body: ')
        ? `${part}: ${error.message.slice('body: '.length)}`
        : `${part}.${error.message}`
  return new HeraldError(error.code, message, error.headers, error.log)
}

/** Keeps hostile input from bloating an error message. */
function clip(text: string, max = 80): string {
  return text.length > max ? text.slice(0, max) + '…' : text
}

export function errorBody(error: HeraldError) {
  return { error: { code: error.code, message: error.message } }
}

export function toResponse(error: HeraldError): Response {
  return Response.json(errorBody(error), { status: error.status, headers: error.headers })
}
