// The error catalogue: every code Herald answers with, its HTTP status, and the one factory that
// builds it. The README's error table lists exactly these codes (a test holds the two together).

/** Code → HTTP status. A client is written against these words: never rename one. */
export const CODES = {
  INVALID_LOCALE: 400,
  INVALID_USER_ID: 400,
  INVALID_CURSOR: 400,
  INVALID_JSON: 400,
  INVALID_BODY: 400,
  TOO_MANY_LOCALES: 400,
  UNAUTHORIZED: 401,
  FORBIDDEN: 403,
  NOT_FOUND: 404,
  METHOD_NOT_ALLOWED: 405,
  IDEMPOTENCY_CONFLICT: 409,
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
 * Each code by its name (`C.NOT_FOUND` is 'NOT_FOUND'): how other modules (the API document) name
 * codes without writing them as strings, so every literal stays here.
 */
export const C = Object.fromEntries(Object.keys(CODES).map((code) => [code, code])) as { readonly [K in Code]: K }

/** An error a client caused or must know about: a stable `code`, its HTTP status, a message. */
export class HeraldError extends Error {
  readonly code: Code
  readonly status: number
  readonly headers: Record<string, string>

  constructor(code: Code, message: string, headers: Record<string, string> = {}) {
    super(message)
    this.name = 'HeraldError'
    this.code = code
    this.status = CODES[code]
    this.headers = headers
  }
}

export const Errors = {
  invalidLocale: (tag: string, where: string) =>
    new HeraldError('INVALID_LOCALE', `${where}: '${clip(tag)}' is not a known BCP 47 language tag`),
  invalidUserId: (why: string) => new HeraldError('INVALID_USER_ID', `userId ${why}`),
  invalidCursor: (where: string, value: string) =>
    new HeraldError('INVALID_CURSOR', `${where}: '${clip(value)}' is not a valid event id (a non-negative integer)`),
  invalidJson: (message: string) => new HeraldError('INVALID_JSON', message),
  invalidBody: (field: string, message: string) => new HeraldError('INVALID_BODY', `${field}: ${message}`),
  tooManyLocales: (why: string) => new HeraldError('TOO_MANY_LOCALES', `too many languages: ${why}`),
  unauthorized: (message: string) =>
    new HeraldError('UNAUTHORIZED', message, { 'www-authenticate': 'Bearer realm="herald"' }),
  forbidden: () => new HeraldError('FORBIDDEN', "the token's subject is another user"),
  notFound: (path: string) => new HeraldError('NOT_FOUND', `no route for ${clip(path)}`),
  methodNotAllowed: (method: string, path: string, allowed: readonly string[]) =>
    new HeraldError('METHOD_NOT_ALLOWED', `${clip(method)} is not allowed on ${clip(path)}; use ${allowed.join(' or ')}`, {
      allow: allowed.join(', '),
    }),
  idempotencyConflict: (key: string) =>
    new HeraldError('IDEMPOTENCY_CONFLICT', `key '${clip(key)}' was already used for this user with a different alarm`),
  payloadTooLarge: (limit: number) => new HeraldError('PAYLOAD_TOO_LARGE', `request body is larger than ${limit} bytes`),
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
