// The OpenAPI 3.1 document of GET /openapi.json. Elysia's route table gives the paths, methods,
// path parameters and operation ids (@elysiajs/openapi's generator reads it), and the query and
// header parameters come from the TypeBox schemas below through the same generator — schemas for
// the document only: Herald checks its input itself (input.ts), with its own error codes, so no
// route validates with them. What Herald parses itself (the bodies, read by readJson) and what
// Elysia cannot know (responses, error codes, the event stream, security) is written here by hand,
// per route. A route Herald serves without an entry here is a gap the test finds.
import { toOpenAPISchema } from '@elysiajs/openapi'
import { t, type AnyElysia } from 'elysia'
import { C, CODES, type Code } from '../errors'

type Json = Record<string, unknown>

/** What the stream's events carry; the inbox adds its kinds here (`state`, `badge`). */
export const SSE_EVENTS: Record<string, { description: string; data: Json; id?: boolean; retry?: boolean }> = {
  ready: {
    description:
      'Sent once the stream is registered and positioned: every alarm committed after it reaches this stream. `since` is the seq it starts after.',
    data: object({ userId: { type: 'string' }, locale: { type: 'string' }, generation: { type: 'integer' }, since: { type: 'integer', minimum: 0 } }),
  },
  alarm: {
    description: "An alarm in the best of its languages for this stream. The event's `id` is the alarm's `seq` (resume with `Last-Event-ID`).",
    data: { $ref: '#/components/schemas/AlarmEvent' },
    id: true,
  },
  superseded: {
    description: 'A newer stream of the same user opened (any tab, device or instance); this one ends. `retry: 86400000` keeps an EventSource from reconnecting on its own.',
    data: object({ reason: { const: 'newer-connection' } }),
    retry: true,
  },
  expired: {
    description: "The subscriber's token expired; the stream ends. Fetch a new token and resume with `Last-Event-ID`.",
    data: object({ reason: { const: 'token-expired' } }),
  },
}

const ERROR_WHEN: Partial<Record<Code, string>> = {
  INVALID_LOCALE: '`lang`, or a `messages` key, is not a known BCP 47 language tag',
  INVALID_USER_ID: '`userId` empty, over 200 characters, with control characters, or badly encoded',
  INVALID_CURSOR: '`Last-Event-ID` or `since` is not a non-negative integer',
  INVALID_JSON: 'the body is not valid UTF-8 JSON',
  INVALID_BODY: 'a field is missing, unknown, of the wrong type or out of range (the message names it)',
  TOO_MANY_LOCALES: 'an alarm carries more than 100 languages, or learning its new ones would pass HERALD_MAX_LOCALES',
  UNAUTHORIZED: 'no token or key, or an invalid, tampered or expired one (`WWW-Authenticate: Bearer`)',
  FORBIDDEN: "a valid token whose `sub` is another user",
  NOT_FOUND: 'no such route (or this one is off)',
  METHOD_NOT_ALLOWED: 'the path exists with another method (`Allow` says which)',
  IDEMPOTENCY_CONFLICT: 'the `key` was used for this user with a different alarm',
  PAYLOAD_TOO_LARGE: 'the body is over 64 KiB',
  UNSUPPORTED_MEDIA_TYPE: 'the body is not application/json',
  RATE_LIMITED: 'too many reconnects or publishes (`Retry-After` says when to retry)',
  HEADERS_TOO_LARGE: 'request line and headers over 8 KiB',
  INTERNAL: 'a bug: logged on the server',
  TOO_MANY_STREAMS: 'this process holds HERALD_MAX_STREAMS streams (`Retry-After: 5`)',
  USER_BUSY: "another transaction held the user's alarms for HERALD_LOCK_TIMEOUT_MS; nothing stored (`Retry-After: 1`)",
  UNAVAILABLE: 'the database is unreachable, or Herald is shutting down; retry',
  DATABASE_UNAVAILABLE: 'PostgreSQL does not answer',
}

type Operation = {
  summary: string
  description?: string
  tags: string[]
  security?: Json[]
  requestBody?: Json
  /** The answers that are not errors. */
  responses: Record<string, Json>
  /** The error codes this operation answers with (their statuses come from the catalogue). */
  errors?: Code[]
}

const SUBSCRIBER = [{ subscriberToken: [] }, { tokenQuery: [] }, { tokenCookie: [] }, {}]
const TEXT = (type: string, description: string) => ({ description, content: { [type]: { schema: { type: 'string' } } } })

/** Keyed by Elysia's method and path, as in `app.routes`. */
export const OPERATIONS: Record<string, Operation> = {
  'GET /connection/:userId': {
    summary: "Subscribe to a user's alarms (Server-Sent Events)",
    description:
      'Opens the stream: `retry:` and a `: herald` comment at once, then `ready`, then every alarm in the negotiated language, heartbeat comments (`: heartbeat`) while idle. ' +
      'A newer stream of the same user ends this one with `superseded`; an expiring token with `expired`; shutdown with a `retry:` between 1 and 5 s and a `: shutting down` comment. ' +
      'Each item of the stream is one event, described by the schema (OpenAPI 3.2 calls it `itemSchema`).',
    tags: ['streams'],
    security: SUBSCRIBER,
    responses: {
      200: {
        description: 'The event stream.',
        headers: {
          'Content-Language': { description: "The stream's locale.", schema: { type: 'string' } },
          'Cache-Control': { schema: { type: 'string', const: 'private, no-cache, no-store, no-transform, must-revalidate, max-age=0' } },
          'X-Accel-Buffering': { schema: { type: 'string', const: 'no' } },
        },
        content: { 'text/event-stream': { schema: { $ref: '#/components/schemas/StreamEvent' } } },
      },
    },
    errors: [C.INVALID_USER_ID, C.INVALID_LOCALE, C.INVALID_CURSOR, C.UNAUTHORIZED, C.FORBIDDEN, C.RATE_LIMITED, C.TOO_MANY_STREAMS, C.UNAVAILABLE],
  },
  'POST /alarms': {
    summary: 'Publish an alarm with its texts',
    description: 'Stores one alarm and wakes its user\'s streams. With a `key`, the same key again for the same user returns the first alarm (200) and stores nothing. In every error case nothing is stored.',
    tags: ['alarms'],
    security: [{ publishKey: [] }, {}],
    requestBody: { required: true, content: { 'application/json': { schema: { $ref: '#/components/schemas/PublishBody' } } } },
    responses: {
      201: { description: 'Stored.', content: { 'application/json': { schema: { $ref: '#/components/schemas/PublishedAlarm' } } } },
      200: { description: 'The `key` was used before with this same alarm: the first one, nothing stored.', content: { 'application/json': { schema: { $ref: '#/components/schemas/PublishedAlarm' } } } },
    },
    errors: [C.INVALID_BODY, C.INVALID_JSON, C.INVALID_LOCALE, C.INVALID_USER_ID, C.TOO_MANY_LOCALES, C.UNAUTHORIZED, C.IDEMPOTENCY_CONFLICT, C.PAYLOAD_TOO_LARGE, C.UNSUPPORTED_MEDIA_TYPE, C.RATE_LIMITED, C.USER_BUSY, C.UNAVAILABLE],
  },
  'GET /health': {
    summary: 'Is PostgreSQL answering, and what carries the signals',
    tags: ['operations'],
    responses: {
      200: { description: 'PostgreSQL answered within 2 s.', content: { 'application/json': { schema: object({ status: { const: 'ok' }, signals: { $ref: '#/components/schemas/SignalsBackend' } }) } } },
    },
    errors: [C.DATABASE_UNAVAILABLE],
  },
  'POST /dev/token': {
    summary: 'Mint a 15-minute subscriber token for any user (development)',
    description: 'Served only when HERALD_DEV_TOKENS turns it on and Herald holds an HS256 HERALD_JWT_SECRET; else 404.',
    tags: ['development'],
    requestBody: { required: true, content: { 'application/json': { schema: object({ userId: { type: 'string', minLength: 1, maxLength: 200 } }) } } },
    responses: { 200: { description: 'A token.', content: { 'application/json': { schema: object({ token: { type: 'string' }, expiresIn: { type: 'integer', const: 900 } }) } } } },
    errors: [C.NOT_FOUND, C.INVALID_USER_ID, C.INVALID_BODY, C.INVALID_JSON, C.PAYLOAD_TOO_LARGE, C.UNSUPPORTED_MEDIA_TYPE],
  },
  'GET /metrics': {
    summary: 'Prometheus metrics',
    description: 'Open in development; with HERALD_METRICS_TOKEN set, only with it as Bearer; in production without one, 401 unless HERALD_METRICS=public. In cluster mode, every worker\'s figures. Absent (404) with HERALD_METRICS=off.',
    tags: ['operations'],
    security: [{ metricsToken: [] }, {}],
    responses: { 200: TEXT('text/plain', "Prometheus' text format (version 0.0.4).") },
    errors: [C.UNAUTHORIZED, C.UNAVAILABLE],
  },
  'GET /client.js': {
    summary: 'The browser client library (an ES module)',
    tags: ['browser'],
    responses: { 200: TEXT('text/javascript', 'The module, bundled at the first request.'), 304: { description: 'Unchanged (`If-None-Match`).' } },
  },
  'GET /client.d.ts': { summary: "The client library's TypeScript declarations", tags: ['browser'], responses: { 200: TEXT('application/typescript', 'Declarations.') } },
  'GET /': { summary: 'The demo page (HERALD_DEMO)', tags: ['demo'], responses: { 200: TEXT('text/html', 'The page.') }, errors: [C.NOT_FOUND] },
  'GET /demo.css': { summary: "The demo page's styles", tags: ['demo'], responses: { 200: TEXT('text/css', 'Styles.') }, errors: [C.NOT_FOUND] },
  'GET /demo.js': { summary: "The demo page's script", tags: ['demo'], responses: { 200: TEXT('text/javascript', 'Script.') }, errors: [C.NOT_FOUND] },
  'GET /openapi.json': { summary: 'This document', tags: ['documentation'], responses: { 200: { description: 'OpenAPI 3.1.', content: { 'application/json': { schema: { type: 'object' } } } } } },
  'GET /docs': { summary: 'This document as a page (Swagger UI, served by Herald: works offline)', tags: ['documentation'], responses: { 200: TEXT('text/html', 'The page.') } },
  'GET /docs/swagger-ui.css': { summary: "The docs page's styles", tags: ['documentation'], responses: { 200: TEXT('text/css', 'Swagger UI, from swagger-ui-dist.') } },
  'GET /docs/swagger-ui-bundle.js': { summary: "The docs page's script", tags: ['documentation'], responses: { 200: TEXT('text/javascript', 'Swagger UI, from swagger-ui-dist.') } },
  'GET /docs/init.js': { summary: 'Starts Swagger UI on this document', tags: ['documentation'], responses: { 200: TEXT('text/javascript', 'A few lines.') } },
}

/** Documentation-only schemas the generator turns into parameters (never validated against). */
const REFERENCES = {
  '/connection/:userId': {
    get: {
      params: t.Object({ userId: t.String({ minLength: 1, maxLength: 200, description: 'Whose alarms: 1–200 characters, no control characters, valid percent-encoded UTF-8.' }) }),
      query: t.Object({
        lang: t.Optional(t.String({ description: 'One BCP 47 tag or a comma list (`ja-JP,ko`); overrides Accept-Language.', examples: ['ko', 'ja-JP,ko'] })),
        since: t.Optional(t.String({ pattern: '^\\d{1,15}$', description: 'Resume after this seq (Last-Event-ID wins).' })),
        token: t.Optional(t.String({ description: 'The subscriber token, for an EventSource that cannot set headers.' })),
      }),
      headers: t.Object({
        'last-event-id': t.Optional(t.String({ pattern: '^\\d{0,15}$', description: 'Resume after this seq; an empty one means none.' })),
        'accept-language': t.Optional(t.String({ description: 'Used when `lang` is absent; malformed, unknown, `*` and q=0 entries are skipped.' })),
      }),
    },
  },
  '/client.js': { get: { headers: t.Object({ 'if-none-match': t.Optional(t.String()) }) } },
}

export type OpenApiOptions = {
  /**
   * Whether a route of the table is one of not-allowed.ts's 405s (a method its path lacks): those
   * are no operations, and the document's description says what they answer.
   */
  isRefusal: (method: string, path: string) => boolean
  version: string
}

/** The document for the routes `app` serves now. */
export function buildOpenApi(app: AnyElysia, { isRefusal, version }: OpenApiOptions): Json {
  // No method is left out by name: HEAD /connection/:userId is an operation of its own, while the
  // HEAD and OPTIONS of other paths are refusals, as are the other methods each path lacks.
  const generated = toOpenAPISchema(app, { staticFile: false, methods: [] }, [REFERENCES as never]) as unknown as {
    paths: Record<string, Record<string, Json>>
  }
  const paths: Record<string, Record<string, Json>> = {}
  for (const [path, item] of Object.entries(generated.paths)) {
    const elysiaPath = path.replace(/\{([^}]+)\}/g, ':$1')
    for (const [method, operation] of Object.entries(item)) {
      const route = `${method.toUpperCase()} ${elysiaPath}`
      if (isRefusal(method.toUpperCase(), elysiaPath)) continue
      const written = OPERATIONS[route]
      ;(paths[path] ??= {})[method] = written ? complete(operation, written) : operation
    }
  }
  return {
    openapi: '3.1.0',
    info: {
      title: 'Herald',
      version,
      summary: 'Real-time multilingual alarms over Server-Sent Events, stored in PostgreSQL.',
      description:
        'Every error is `{"error":{"code","message"}}` with its status (see the `Error` schema for every code). Any route may also answer ' +
        '431 HEADERS_TOO_LARGE and 500 INTERNAL; a path served with another method answers 405 METHOD_NOT_ALLOWED (with `Allow`), any other 404 NOT_FOUND.',
    },
    tags: [...new Set(Object.values(OPERATIONS).flatMap((op) => op.tags))].map((name) => ({ name })),
    paths,
    components: {
      schemas: SCHEMAS,
      responses: {
        HeadersTooLarge: errorResponse([C.HEADERS_TOO_LARGE]),
        Internal: errorResponse([C.INTERNAL]),
        MethodNotAllowed: { ...errorResponse([C.METHOD_NOT_ALLOWED]), headers: { Allow: { schema: { type: 'string' } } } },
      },
      securitySchemes: {
        subscriberToken: { type: 'http', scheme: 'bearer', bearerFormat: 'JWT', description: 'HS256 (HERALD_JWT_SECRET) or ES256/RS256 (HERALD_JWT_PUBLIC_KEY); `sub` is the userId, `exp` required.' },
        tokenQuery: { type: 'apiKey', in: 'query', name: 'token', description: 'The same JWT, for EventSource.' },
        tokenCookie: { type: 'apiKey', in: 'cookie', name: 'herald_token', description: 'The same JWT, for EventSource withCredentials.' },
        publishKey: { type: 'http', scheme: 'bearer', description: 'One of HERALD_PUBLISH_KEYS.' },
        metricsToken: { type: 'http', scheme: 'bearer', description: 'HERALD_METRICS_TOKEN.' },
      },
    },
  }
}

function complete(generated: Json, { errors = [], responses, ...written }: Operation): Json {
  const byStatus = new Map<number, Code[]>()
  for (const code of errors) byStatus.set(CODES[code], [...(byStatus.get(CODES[code]) ?? []), code])
  const errorResponses = Object.fromEntries([...byStatus].map(([status, codes]) => [String(status), errorResponse(codes)]))
  return {
    ...generated,
    ...written,
    security: written.security ?? [],
    responses: {
      ...responses,
      ...errorResponses,
      431: { $ref: '#/components/responses/HeadersTooLarge' },
      500: { $ref: '#/components/responses/Internal' },
    },
  }
}

function errorResponse(codes: Code[]): Json {
  const retry = codes.some((code) => code === C.RATE_LIMITED || code === C.TOO_MANY_STREAMS || code === C.USER_BUSY)
  const auth = codes.includes(C.UNAUTHORIZED)
  return {
    description: codes.map((code) => `${code}: ${ERROR_WHEN[code] ?? code}`).join('; '),
    ...((retry || auth) && {
      headers: {
        ...(retry && { 'Retry-After': { description: 'Seconds to wait before retrying.', schema: { type: 'integer' } } }),
        ...(auth && { 'WWW-Authenticate': { schema: { type: 'string', const: 'Bearer realm="herald"' } } }),
      },
    }),
    content: {
      'application/json': {
        schema: {
          allOf: [{ $ref: '#/components/schemas/Error' }, object({ error: object({ code: { type: 'string', enum: codes } }, []) })],
        },
      },
    },
  }
}

function object(properties: Record<string, Json>, required = Object.keys(properties)): Json {
  return { type: 'object', properties, required, additionalProperties: false }
}

const LOCALE = { type: 'string', description: 'A BCP 47 language tag.', examples: ['ko', 'en-US', 'ja'] }

const SCHEMAS: Record<string, Json> = {
  Error: {
    type: 'object',
    required: ['error'],
    properties: {
      error: object({
        code: { type: 'string', enum: Object.keys(CODES), description: 'Stable: a client is written against these words.' },
        message: { type: 'string', description: 'For people; may change.' },
      }),
    },
  },
  PublishBody: {
    ...object(
      {
        userId: { type: 'string', minLength: 1, maxLength: 200 },
        messages: { type: 'object', minProperties: 1, maxProperties: 100, propertyNames: LOCALE, additionalProperties: { type: 'string', minLength: 1, maxLength: 4000 }, description: 'Locale → text; keys are canonicalized (`en-us` → `en-US`).' },
        data: { type: 'object', description: 'Any JSON object, at most 32 levels deep; default {}.' },
        key: { type: 'string', minLength: 1, maxLength: 200, description: 'Idempotency key, per user.' },
      },
      ['userId', 'messages'],
    ),
    examples: [{ userId: 'tiaz', messages: { ko: '예약에 성공했습니다!', 'en-US': 'I have successfully made a reservation.' }, data: { reservationId: 17 }, key: 'reservation-17' }],
  },
  PublishedAlarm: object({
    id: { type: 'integer' },
    userId: { type: 'string' },
    seq: { type: 'integer', description: "The alarm's place in its user's order: the stream's event id." },
    locales: { type: 'array', items: LOCALE },
    createdAt: { type: 'string', format: 'date-time' },
  }),
  AlarmEvent: object({
    id: { type: 'integer' },
    seq: { type: 'integer' },
    locale: { ...LOCALE, description: 'The language of `message`, as chosen for this stream.' },
    message: { type: 'string' },
    data: { type: 'object' },
    createdAt: { type: 'string', format: 'date-time' },
  }),
  SignalsBackend: { type: 'string', enum: ['postgres', 'redis', 'postgres (Redis unreachable)', 'postgres (another instance cannot reach Redis)'] },
  StreamEvent: {
    description: 'One event of the stream, as its fields: `event`, `data` (JSON), and `id` or `retry` where it has them. Comments (`: herald`, `: heartbeat`, `: shutting down`) and retry-only blocks carry no event.',
    oneOf: Object.entries(SSE_EVENTS).map(([name, event]) =>
      object(
        {
          event: { const: name },
          data: { type: 'string', contentMediaType: 'application/json', contentSchema: event.data },
          ...(event.id && { id: { type: 'string', pattern: '^\\d+$' } }),
          ...(event.retry && { retry: { type: 'integer' } }),
        },
        ['event', 'data', ...(event.id ? ['id'] : []), ...(event.retry ? ['retry'] : [])],
      ),
    ).map((schema, i) => ({ ...schema, title: Object.keys(SSE_EVENTS)[i], description: Object.values(SSE_EVENTS)[i]!.description })),
  },
}
