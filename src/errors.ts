/** An error a client caused or must know about: a stable `code`, an HTTP status, a message. */
export class HeraldError extends Error {
  readonly code: string
  readonly status: number
  readonly headers: Record<string, string>

  constructor(code: string, status: number, message: string, headers: Record<string, string> = {}) {
    super(message)
    this.name = 'HeraldError'
    this.code = code
    this.status = status
    this.headers = headers
  }
}

export const Errors = {
  invalidLocale: (tag: string, where: string) =>
    new HeraldError('INVALID_LOCALE', 400, `${where}: '${clip(tag)}' is not a known BCP 47 language tag`),
  invalidUserId: (why: string) => new HeraldError('INVALID_USER_ID', 400, `userId ${why}`),
  invalidCursor: (where: string, value: string) =>
    new HeraldError(
      'INVALID_CURSOR',
      400,
      `${where}: '${clip(value)}' is not a valid event id (a non-negative integer)`,
    ),
  invalidJson: (message: string) => new HeraldError('INVALID_JSON', 400, message),
  invalidBody: (field: string, message: string) =>
    new HeraldError('INVALID_BODY', 400, `${field}: ${message}`),
  unsupportedMediaType: () =>
    new HeraldError('UNSUPPORTED_MEDIA_TYPE', 415, 'Content-Type must be application/json'),
  payloadTooLarge: (limit: number) =>
    new HeraldError('PAYLOAD_TOO_LARGE', 413, `request body is larger than ${limit} bytes`),
  idempotencyConflict: (key: string) =>
    new HeraldError(
      'IDEMPOTENCY_CONFLICT',
      409,
      `key '${clip(key)}' was already used for this user with a different alarm`,
    ),
  notFound: (path: string) => new HeraldError('NOT_FOUND', 404, `no route for ${clip(path)}`),
  methodNotAllowed: (method: string, path: string, allowed: string) =>
    new HeraldError('METHOD_NOT_ALLOWED', 405, `${clip(method)} is not allowed on ${clip(path)}; use ${allowed}`, {
      allow: allowed,
    }),
  headersTooLarge: (limit: number) =>
    new HeraldError('HEADERS_TOO_LARGE', 431, `request headers are larger than ${limit} bytes`),
  unavailable: (message: string) => new HeraldError('UNAVAILABLE', 503, message),
}

/** Keeps hostile input from bloating an error message. */
function clip(text: string, max = 80): string {
  return text.length > max ? text.slice(0, max) + '…' : text
}

export function errorBody(code: string, message: string) {
  return { error: { code, message } }
}

export function toResponse(error: HeraldError): Response {
  return Response.json(errorBody(error.code, error.message), {
    status: error.status,
    headers: error.headers,
  })
}
