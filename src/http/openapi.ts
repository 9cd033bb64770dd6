// The OpenAPI 3.1 document of GET /openapi.json. Elysia's route table gives the paths, methods,
// path parameters and operation ids (@elysiajs/openapi's generator reads it), and the query and
// header parameters come from the TypeBox schemas below through the same generator — schemas for
// the document only: Herald checks its input itself (input.ts), with its own error codes, so no
// route validates with them. What Herald parses itself (the bodies, read by readJson) and what
// Elysia cannot know (responses, error codes, the event stream, security) is written here by hand,
// per route. A route Herald serves without an entry here is a gap the test finds. The routes
// not-allowed.ts adds for the methods a path lacks answer 405 and are no operations: the caller
// says which they are (isRefusal), and the document leaves them out.
import { toOpenAPISchema } from '@elysiajs/openapi'
import { t, type AnyElysia } from 'elysia'
import { DEVICE } from '../devices'
import { C, CODES, RENDER_ERRORS, type Code } from '../errors'
import { MARKS, STATUSES, type Mark } from '../store/inbox'
import { SUPERSEDED } from '../stream/render'
import { DEFAULT_HISTORY_LIMIT, MAX_HISTORY_LIMIT, MAX_MARK_IDS } from './inbox-input'
import { MAX_BATCH, MAX_BATCH_BYTES, MAX_FAN_OUT, MAX_FAN_OUT_BYTES } from './batch-input'
import { MAX_ALARM_LOCALES, MAX_BODY_BYTES, MAX_DESCRIPTION, MAX_MESSAGE, MAX_PAGE, MAX_TEMPLATE_KEY, TEMPLATE_KEY } from './input'

type Json = Record<string, unknown>

/** What the stream's events carry: one entry per kind of event, in the order a client meets them. */
export const SSE_EVENTS: Record<string, { description: string; data: Json; id?: boolean; retry?: boolean }> = {
  ready: {
    description:
      'Sent once the stream is registered and positioned: every entry of the log committed after it reaches this stream. `since` is the seq it starts after; ' +
      "`device` says which device it is for (null: the unnamed one); `badge` is the user's now.",
    data: object({
      userId: { type: 'string' },
      device: { type: ['string', 'null'], pattern: DEVICE.source, description: "The stream's device; null for the user's unnamed device." },
      locale: { type: 'string' },
      generation: { type: 'integer', description: "Orders the user's streams across instances: a newer stream has a higher one." },
      since: { type: 'integer', minimum: 0 },
      badge: { $ref: '#/components/schemas/Badge' },
    }),
  },
  alarm: {
    description:
      "An alarm in the best of its languages for this stream. The event's `id` is the alarm's `seq` (resume with `Last-Event-ID`). " +
      'A template alarm carries `template`, and `renderError` when it could not be rendered as its template says.',
    data: { $ref: '#/components/schemas/AlarmEvent' },
    id: true,
  },
  state: {
    description:
      "A change of read / seen / archived state in the user's log (a mark through the API, or a direct writer's UPDATE). It shares the alarms' sequence: " +
      "the event's `id` is its `seq`, so `Last-Event-ID` resumes both.",
    data: { $ref: '#/components/schemas/StateEvent' },
    id: true,
  },
  deleted: {
    description:
      "An alarm was deleted (DELETE /users/:userId/alarms/:id, or a direct writer's DELETE): `id` and `seq` name the alarm, as its `alarm` event did. " +
      "The event's `id` is the deletion's own place in the user's log, so `Last-Event-ID` resumes it like an alarm. An alarm that expired or aged out (retention) is " +
      'deleted without one: the client knows its `expiresAt`, and the badge follows.',
    data: object({ id: { type: 'integer' }, seq: { type: 'integer' } }),
    id: true,
  },
  badge: {
    description:
      'The badge after a batch of frames that changed it for this client, read in the same snapshot as those frames. No `id`: it never moves the resume point.',
    data: { $ref: '#/components/schemas/Badge' },
  },
  superseded: {
    description:
      'A newer stream of the same user and device opened (any tab or instance: `newer-connection`), or the user opened more than HERALD_MAX_DEVICES devices and this is ' +
      'the least recently opened (`too-many-devices`); this one ends. `retry: 86400000` keeps an EventSource from reconnecting on its own.',
    data: object({ reason: { type: 'string', enum: Object.keys(SUPERSEDED) } }),
    retry: true,
  },
  expired: {
    description: "The subscriber's token expired; the stream ends. Fetch a new token and resume with `Last-Event-ID`.",
    data: object({ reason: { const: 'token-expired' } }),
  },
}

/** Why each code is answered, as the README's error table says it: every code has its line (the type holds them to CODES). */
const ERROR_WHEN: Record<Code, string> = {
  INVALID_LOCALE: '`lang`, or a `messages` key, is not a known BCP 47 language tag',
  INVALID_USER_ID: '`userId` empty, over 200 characters, with control characters, `.` or `..`, or badly encoded',
  INVALID_CURSOR: '`Last-Event-ID` or `since` is not a non-negative integer',
  INVALID_DEVICE: '`device` (or `Herald-Device`) is not 1–64 of `A-Z a-z 0-9 . _ -`',
  INVALID_JSON: 'the body is not valid UTF-8 JSON',
  INVALID_BODY:
    'a field is missing, unknown, of the wrong type or out of range (the message names it); also the body of a client that closed the connection before sending it all',
  INVALID_QUERY: 'a query parameter is malformed or out of range, or (history, presence) one Herald does not know (the message names it)',
  TOO_MANY_LOCALES: 'more than 100 languages in `messages`, or learning the new ones would pass HERALD_MAX_LOCALES',
  INVALID_TEMPLATE:
    'a template text is not valid ICU MessageFormat (the message names the locale and the line and column), is over a limit, cannot be formatted, or its locales disagree on the arguments',
  INVALID_TEMPLATE_KEY: 'the `:key` is not 1–200 of `[A-Za-z0-9._-]`, or is not valid percent-encoded UTF-8',
  UNKNOWN_TEMPLATE: 'the publish names a template that does not exist',
  INVALID_PARAMS: "the publish's `params` miss an argument of the template, add one, or give one the wrong type (the message names it)",
  INVALID_TIME_ZONE: '`tz` is not an IANA time zone name (`Asia/Seoul`, `UTC`; an offset such as `+09:00` is not one)',
  UNAUTHORIZED: 'no token or key, or an invalid, tampered or expired one (`WWW-Authenticate: Bearer`)',
  FORBIDDEN: 'a valid token whose `sub` is another user',
  NOT_FOUND: 'no such route (or this one is off)',
  ALARM_NOT_FOUND: "a mark or a DELETE names an id that is not one of the user's alarms, or one that has expired (the message names it); nothing was changed",
  TEMPLATE_NOT_FOUND: 'no template has this key',
  METHOD_NOT_ALLOWED: 'the path exists with another method (`Allow` says which)',
  REQUEST_TIMEOUT: 'the body did not arrive within 10 s (`Connection: close`)',
  IDEMPOTENCY_CONFLICT:
    'the `key` was used for this user with a different alarm (a batch names the item); a fan-out whose key some of its users hold and others do not (an earlier publish to other users)',
  TEMPLATE_ARGUMENTS_CHANGED: "the texts take other arguments (or types) than the key has: they are fixed once created (stored alarms hold params for them); make a new key",
  PAYLOAD_TOO_LARGE:
    "the body is over the route's cap (64 KiB; a fan-out's 1 MiB, a batch's 8 MiB; a mark's 16 KiB), answered as soon as the cap is passed (`Connection: close`)",
  UNSUPPORTED_MEDIA_TYPE: 'the body is not application/json',
  RATE_LIMITED: 'a user reconnects, or a publisher publishes or uses the catalogue, faster than allowed (`Retry-After` says when to retry)',
  HEADERS_TOO_LARGE: 'request line and headers over 8 KiB',
  INTERNAL: 'a bug: logged on the server',
  TOO_MANY_STREAMS: 'this process holds HERALD_MAX_STREAMS streams (`Retry-After: 5`)',
  USER_BUSY:
    "another transaction held the user's alarms (a batch's or fan-out's: any of its users') for HERALD_LOCK_TIMEOUT_MS; nothing was stored or changed (`Retry-After: 1`)",
  UNAVAILABLE: 'the database is unreachable, or Herald is shutting down (a publish cut short is rolled back); retry',
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

/** What a stream's answer (and HEAD's, which has no body) carries besides `Content-Type: text/event-stream; charset=utf-8`. */
const STREAM_HEADERS = {
  'Content-Language': { description: "The stream's locale.", schema: { type: 'string' } },
  'Cache-Control': { schema: { type: 'string', const: 'private, no-cache, no-store, no-transform, must-revalidate, max-age=0' } },
  'X-Accel-Buffering': { schema: { type: 'string', const: 'no' } },
}

/** A publish key, as for POST /alarms; open while publishing is (no HERALD_PUBLISH_KEYS). */
const PUBLISHER = [{ publishKey: [] }, {}]

/** The inbox and presence: the user's own token (as for the stream), or a publish key (a server acting for its users). */
const USER = [{ subscriberToken: [] }, { tokenQuery: [] }, { tokenCookie: [] }, { publishKey: [] }, {}]

const MARK_SUMMARY: Record<Mark, string> = {
  read: 'Mark alarms read (the user opened them)',
  unread: 'Mark alarms unread again',
  seen: 'Mark alarms seen (the user opened the list)',
  archive: 'Archive alarms: out of the inbox and the badge',
  unarchive: 'Bring archived alarms back to the inbox',
}

function markOperation(kind: Mark): Operation {
  return {
    summary: MARK_SUMMARY[kind],
    description:
      'Exactly one of `ids` (these alarms, each the user\'s), `upTo` (every alarm with seq ≤ upTo: "mark all" that leaves an alarm committing at the same moment as it was) ' +
      "or `all: true`. All or nothing: an id that is not one of the user's alarms is 404 ALARM_NOT_FOUND naming it, and nothing is changed. " +
      'Marking what is already in that state changes nothing and sends nothing; a mark that changed something is a `state` event in every open stream of the user, ' +
      'on every instance, followed by `badge`. The body is at most 16 KiB.',
    tags: ['inbox'],
    security: USER,
    requestBody: { required: true, content: { 'application/json': { schema: { $ref: '#/components/schemas/MarkBody' } } } },
    responses: { 200: { description: 'Marked.', content: { 'application/json': { schema: { $ref: '#/components/schemas/MarkResult' } } } } },
    errors: [
      C.INVALID_USER_ID,
      C.INVALID_BODY,
      C.INVALID_JSON,
      C.UNAUTHORIZED,
      C.FORBIDDEN,
      C.ALARM_NOT_FOUND,
      C.REQUEST_TIMEOUT,
      C.PAYLOAD_TOO_LARGE,
      C.UNSUPPORTED_MEDIA_TYPE,
      C.USER_BUSY,
      C.UNAVAILABLE,
    ],
  }
}

/** What a publish (one alarm, a fan-out, a batch) may be refused for. */
const PUBLISH_ERRORS: Code[] = [
  C.INVALID_BODY,
  C.INVALID_JSON,
  C.INVALID_LOCALE,
  C.INVALID_USER_ID,
  C.TOO_MANY_LOCALES,
  C.UNKNOWN_TEMPLATE,
  C.INVALID_PARAMS,
  C.UNAUTHORIZED,
  C.IDEMPOTENCY_CONFLICT,
  C.REQUEST_TIMEOUT,
  C.PAYLOAD_TOO_LARGE,
  C.UNSUPPORTED_MEDIA_TYPE,
  C.RATE_LIMITED,
  C.USER_BUSY,
  C.UNAVAILABLE,
]

/** What a stream request may be refused for before it opens: its input, then its token. */
const STREAM_CHECKS: Code[] = [C.INVALID_USER_ID, C.INVALID_LOCALE, C.INVALID_CURSOR, C.INVALID_DEVICE, C.INVALID_TIME_ZONE, C.UNAUTHORIZED, C.FORBIDDEN]

/** Keyed by Elysia's method and path, as in `app.routes`. */
export const OPERATIONS: Record<string, Operation> = {
  'GET /connection/:userId': {
    summary: "Subscribe to a user's alarms (Server-Sent Events)",
    description:
      "Opens the stream: `retry:` and a `: herald` comment at once, then `ready`, then every entry of the user's log after `since`: alarms in the negotiated language " +
      '(template alarms rendered in `tz`) and changes of state (`state`), each batch that moved the badge followed by `badge`; heartbeat comments (`: heartbeat`) while idle. ' +
      'A newer stream of the same user and device, or a device opened past HERALD_MAX_DEVICES, ends this one with `superseded`; an expiring token with `expired`; ' +
      'shutdown with a `retry:` between 1 and 5 s and a `: shutting down` comment. ' +
      'Each item of the stream is one event, described by the schema (OpenAPI 3.2 calls it `itemSchema`).',
    tags: ['streams'],
    security: SUBSCRIBER,
    responses: {
      200: {
        description: 'The event stream.',
        headers: STREAM_HEADERS,
        content: { 'text/event-stream': { schema: { $ref: '#/components/schemas/StreamEvent' } } },
      },
    },
    errors: [...STREAM_CHECKS, C.RATE_LIMITED, C.TOO_MANY_STREAMS, C.UNAVAILABLE],
  },
  'HEAD /connection/:userId': {
    summary: "Check a subscription without opening it: the stream's status and headers, no body",
    description:
      'Answers what GET would (the same checks of the path, `lang`, `Last-Event-ID` / `since`, `device` / `Herald-Device` and `tz`, the same token, the same status ' +
      'and headers) with no body, and does nothing else: it opens no stream, so it supersedes none, and takes neither a stream slot nor a reconnect token ' +
      '(HERALD_MAX_STREAMS and the reconnect rate do not apply to it). A refusal is its status and headers only: a HEAD answer has no body.',
    tags: ['streams'],
    security: SUBSCRIBER,
    responses: {
      200: { description: 'A GET would open the stream: `Content-Type: text/event-stream; charset=utf-8` and these headers, no body.', headers: STREAM_HEADERS },
    },
    errors: STREAM_CHECKS,
  },
  'GET /users/:userId/alarms': {
    summary: "A page of the user's alarms, newest first, with their state and the badge",
    description:
      "History, in the request's language (`lang`, else Accept-Language) with the same per-alarm fallback as the stream, template alarms rendered in `tz`. " +
      '`next` is the seq to pass as `before` for the next page, or null on the last one; the page and the badge are read in one snapshot. ' +
      'Another parameter, or a bad value, is 400 INVALID_QUERY naming it (`lang`: INVALID_LOCALE, `tz`: INVALID_TIME_ZONE).',
    tags: ['inbox'],
    security: USER,
    responses: {
      200: {
        description: 'The page.',
        headers: { 'Content-Language': { description: 'The locale the page was negotiated to.', schema: { type: 'string' } } },
        content: { 'application/json': { schema: { $ref: '#/components/schemas/HistoryPage' } } },
      },
    },
    errors: [C.INVALID_USER_ID, C.INVALID_QUERY, C.INVALID_LOCALE, C.INVALID_TIME_ZONE, C.UNAUTHORIZED, C.FORBIDDEN, C.UNAVAILABLE],
  },
  ...Object.fromEntries(MARKS.map((kind) => [`POST /users/:userId/alarms/${kind}`, markOperation(kind)])),
  'DELETE /users/:userId/alarms/:id': {
    summary: 'Delete one of the user\'s alarms',
    description:
      "Removes the alarm and its texts. Every open stream of the user, on every instance, gets `deleted` with the alarm's `id` and `seq`, in the ordered log " +
      '(resumable like alarms), followed by `badge` when it counted. Not one of the user\'s alarms, already deleted, expired, or an `:id` that is no alarm id: ' +
      '404 ALARM_NOT_FOUND, and nothing is deleted.',
    tags: ['inbox'],
    security: USER,
    responses: { 200: { description: 'Deleted.', content: { 'application/json': { schema: { $ref: '#/components/schemas/Deleted' } } } } },
    errors: [C.INVALID_USER_ID, C.UNAUTHORIZED, C.FORBIDDEN, C.ALARM_NOT_FOUND, C.USER_BUSY, C.UNAVAILABLE],
  },
  'GET /users/:userId/presence': {
    summary: "Which of the user's devices hold a stream open, on every instance",
    description:
      'Oldest first (`device` is null for the unnamed one). A stream that ends leaves at once; an instance that dies without a word drops out within two heartbeat intervals.',
    tags: ['devices'],
    security: USER,
    responses: { 200: { description: 'The open devices.', content: { 'application/json': { schema: { $ref: '#/components/schemas/Presence' } } } } },
    errors: [C.INVALID_USER_ID, C.INVALID_QUERY, C.UNAUTHORIZED, C.FORBIDDEN, C.UNAVAILABLE],
  },
  'POST /alarms': {
    summary: 'Publish an alarm (its texts, or a template and its params), to one user or to many',
    description:
      "Stores one alarm and wakes its user's streams. Exactly one of `messages` (the texts) or `template` with its `params` (rendered when read, in the reader's language " +
      "and time zone; the answer's `locales` are the template's, and it carries `template`). With a `key`, the same key again for the same user returns the first alarm " +
      '(200) and stores nothing; with a different alarm it is 409. In every error case nothing is stored. ' +
      `With \`userIds\` (1–${MAX_FAN_OUT.toLocaleString('en-US')} distinct users) instead of \`userId\`: a fan-out, one alarm per user with the same content, each with its own seq, read state and badge, ` +
      'all stored in one transaction or none. Its `key` is one key for the whole fan-out: the same fan-out again (the same users, the same alarm) answers 200 with the same ' +
      'alarms; a different alarm, or a key that some of the users hold and others do not, is 409 IDEMPOTENCY_CONFLICT. ' +
      `One alarm's body is at most ${MAX_BODY_BYTES / 1024} KiB; a fan-out's at most ${MAX_FAN_OUT_BYTES / 1024 / 1024} MiB when it declares its length (Content-Length), else 64 KiB. ` +
      'A fan-out is one publish to HERALD_PUBLISH_RATE.',
    tags: ['alarms'],
    security: PUBLISHER,
    requestBody: {
      required: true,
      content: { 'application/json': { schema: { oneOf: [{ $ref: '#/components/schemas/PublishBody' }, { $ref: '#/components/schemas/FanOutBody' }] } } },
    },
    responses: {
      201: {
        description: 'Stored: one alarm, or (a fan-out) one per user.',
        content: { 'application/json': { schema: { oneOf: [{ $ref: '#/components/schemas/PublishedAlarm' }, { $ref: '#/components/schemas/FanOutPublished' }] } } },
      },
      200: {
        description: 'The `key` was used before with this same alarm (a fan-out: by every one of its users): the first alarms, nothing stored.',
        content: { 'application/json': { schema: { oneOf: [{ $ref: '#/components/schemas/PublishedAlarm' }, { $ref: '#/components/schemas/FanOutPublished' }] } } },
      },
    },
    errors: PUBLISH_ERRORS,
  },
  'POST /alarms/batch': {
    summary: 'Publish many alarms at once, all or none',
    description:
      `1–${MAX_BATCH.toLocaleString('en-US')} alarms, each a POST /alarms body (one user each), stored in one transaction: every item is checked as POST /alarms checks its body, and an ` +
      'invalid one is refused with its own code and a message naming it (`alarms[3].messages.ko: must not be empty`), with nothing stored. Each item may carry its own `key`: ' +
      "one its user holds with the same alarm is answered with that alarm (its entry's `status` 200); with a different alarm the batch is 409 naming the item. One (user, key) " +
      'twice in a batch is 400 naming the second. The answer lists every alarm in input order, each what POST /alarms answers for it plus its `status` (201 stored, 200 a repeat); ' +
      `the batch is 201, or 200 when every item was a repeat. The body is at most ${MAX_BATCH_BYTES / 1024 / 1024} MiB. A batch is one publish to HERALD_PUBLISH_RATE.`,
    tags: ['alarms'],
    security: PUBLISHER,
    requestBody: { required: true, content: { 'application/json': { schema: { $ref: '#/components/schemas/BatchBody' } } } },
    responses: {
      201: { description: 'Stored (some items may be repeats: see each `status`).', content: { 'application/json': { schema: { $ref: '#/components/schemas/BatchPublished' } } } },
      200: { description: 'Every item was a repeat of its key: nothing stored.', content: { 'application/json': { schema: { $ref: '#/components/schemas/BatchPublished' } } } },
    },
    errors: PUBLISH_ERRORS,
  },
  'PUT /templates/:key': {
    summary: 'Create or replace a template: an ICU MessageFormat text per language',
    description:
      'Replaces every text of the key: a language left out is gone. 201 when the key is new; 200 when it changed (`version` + 1) or is the same again (the same ' +
      '`version`: a deploy step can PUT every key every time). Each text is ICU MessageFormat (formatjs): `{name}`, `{n, number}`, `{n, plural, …}`, ' +
      '`{n, selectordinal, …}`, `{x, select, …}`, `{at, date, …}`, `{at, time, …}` and skeletons; every plural and select needs `other`; tags are text (`ignoreTag`). ' +
      "Every locale uses the same argument names with types that fit, and once created a key's arguments are fixed (409 TEMPLATE_ARGUMENTS_CHANGED: make a new key). " +
      "A plural without a category its locale's CLDR rules use is a warning, not an error. Limits: texts 1–4,000 characters, plural/select nested at most 5 deep, " +
      '50 arguments of at most 100 characters, 100 languages, a description of 1,000 characters. Its languages become languages streams negotiate to.',
    tags: ['templates'],
    security: PUBLISHER,
    requestBody: { required: true, content: { 'application/json': { schema: { $ref: '#/components/schemas/TemplateBody' } } } },
    responses: {
      201: { description: 'Created (version 1).', content: { 'application/json': { schema: { $ref: '#/components/schemas/TemplateSaved' } } } },
      200: { description: 'Changed (`version` + 1), or the same again (`version` unchanged).', content: { 'application/json': { schema: { $ref: '#/components/schemas/TemplateSaved' } } } },
    },
    errors: [
      C.INVALID_TEMPLATE_KEY,
      C.INVALID_BODY,
      C.INVALID_JSON,
      C.INVALID_LOCALE,
      C.TOO_MANY_LOCALES,
      C.INVALID_TEMPLATE,
      C.UNAUTHORIZED,
      C.TEMPLATE_ARGUMENTS_CHANGED,
      C.REQUEST_TIMEOUT,
      C.PAYLOAD_TOO_LARGE,
      C.UNSUPPORTED_MEDIA_TYPE,
      C.RATE_LIMITED,
      C.UNAVAILABLE,
    ],
  },
  'GET /templates/:key': {
    summary: 'A template: its current texts, version, arguments and warnings',
    tags: ['templates'],
    security: PUBLISHER,
    responses: { 200: { description: 'The template.', content: { 'application/json': { schema: { $ref: '#/components/schemas/Template' } } } } },
    errors: [C.INVALID_TEMPLATE_KEY, C.UNAUTHORIZED, C.TEMPLATE_NOT_FOUND, C.RATE_LIMITED, C.UNAVAILABLE],
  },
  'GET /templates': {
    summary: 'A page of templates in key order, without their texts',
    tags: ['templates'],
    security: PUBLISHER,
    responses: { 200: { description: 'The page; `next` is the `after` of the next one.', content: { 'application/json': { schema: { $ref: '#/components/schemas/TemplatePage' } } } } },
    errors: [C.INVALID_QUERY, C.UNAUTHORIZED, C.RATE_LIMITED, C.UNAVAILABLE],
  },
  'GET /templates/coverage': {
    summary: 'For each template, the languages Herald knows that it has no text for: what translators need',
    description: "A page of keys in order, as GET /templates. `locales` is the languages Herald knows (the list streams negotiate to); each key's `missing` is those it lacks.",
    tags: ['templates'],
    security: PUBLISHER,
    responses: { 200: { description: 'The page; `next` is the `after` of the next one.', content: { 'application/json': { schema: { $ref: '#/components/schemas/Coverage' } } } } },
    errors: [C.INVALID_QUERY, C.UNAUTHORIZED, C.RATE_LIMITED, C.UNAVAILABLE],
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
    description: "Open in development; with HERALD_METRICS_TOKEN set, only with it as Bearer; in production without one, 401 unless HERALD_METRICS=public. In cluster mode, every worker's figures. Absent (404) with HERALD_METRICS=off.",
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

/** A path's `:userId`, as every route that names a user reads it. */
const USER_PARAMS = t.Object({
  userId: t.String({
    minLength: 1,
    maxLength: 200,
    description: 'Whose alarms: 1–200 characters, no control characters, not `.` or `..`, valid percent-encoded UTF-8.',
  }),
})

const TOKEN = t.Optional(t.String({ description: 'The subscriber token, for an EventSource (or a link) that cannot set headers.' }))
const LANG = t.Optional(t.String({ description: 'One BCP 47 tag or a comma list (`ja-JP,ko`); overrides Accept-Language.', examples: ['ko', 'ja-JP,ko'] }))
const TIME_ZONE = t.Optional(
  t.String({
    description:
      'The IANA time zone in which template alarms show dates and times (any case, canonicalized); an offset such as `+09:00` is refused. Default HERALD_DEFAULT_TIME_ZONE (UTC).',
    examples: ['Asia/Seoul', 'UTC'],
  }),
)
const ACCEPT_LANGUAGE = t.Optional(t.String({ description: 'Used when `lang` is absent; malformed, unknown, `*` and q=0 entries are skipped.' }))
const DEVICE_NAME = { pattern: DEVICE.source, minLength: 1, maxLength: 64, examples: ['phone'] }

/** The stream's input: GET's and HEAD's, which checks it the same way. */
const STREAM_INPUT = {
  params: USER_PARAMS,
  query: t.Object({
    lang: LANG,
    since: t.Optional(t.String({ pattern: '^\\d{1,15}$', description: 'Resume after this seq (Last-Event-ID wins).' })),
    device: t.Optional(
      t.String({ ...DEVICE_NAME, description: "The device this stream is for (wins over Herald-Device): 1–64 of A-Z a-z 0-9 . _ -. Without either, the user's unnamed device." }),
    ),
    tz: TIME_ZONE,
    token: TOKEN,
  }),
  headers: t.Object({
    'last-event-id': t.Optional(t.String({ pattern: '^\\d{0,15}$', description: 'Resume after this seq; an empty one means none.' })),
    'accept-language': ACCEPT_LANGUAGE,
    'herald-device': t.Optional(t.String({ ...DEVICE_NAME, description: 'The device this stream is for, when `device` is absent.' })),
  }),
}

const KEY_PARAMS = t.Object({
  key: t.String({
    pattern: TEMPLATE_KEY.source,
    minLength: 1,
    maxLength: MAX_TEMPLATE_KEY,
    description: 'A template key: 1–200 of A-Z a-z 0-9 . _ -. `coverage` is reserved: it names GET /templates/coverage (a PUT there is 405).',
    examples: ['reservation.confirmed'],
  }),
})

/** `?after=&limit=` of a list of templates (input.ts parsePage). */
const PAGE = t.Object({
  after: t.Optional(t.String({ pattern: TEMPLATE_KEY.source, description: 'The `next` of the previous page: the keys after it.' })),
  limit: t.Optional(t.Unsafe<number>({ type: 'integer', minimum: 1, maximum: MAX_PAGE, default: 50 })),
})

/** Documentation-only schemas the generator turns into parameters (never validated against). */
const REFERENCES = {
  '/connection/:userId': { get: STREAM_INPUT, head: STREAM_INPUT },
  '/users/:userId/alarms': {
    get: {
      params: USER_PARAMS,
      query: t.Object({
        status: t.Optional(
          t.UnionEnum([...STATUSES], { default: 'inbox', description: '`inbox`: not archived; `unread` and `unseen`: not archived either; `archived`; `all`.' }),
        ),
        before: t.Optional(t.String({ pattern: '^\\d{1,15}$', description: "A seq: the page before it (pass the last page's `next`)." })),
        // A plain integer: Elysia's t.Integer would describe its own string coercion, which Herald does not do.
        limit: t.Optional(t.Unsafe<number>({ type: 'integer', minimum: 1, maximum: MAX_HISTORY_LIMIT, default: DEFAULT_HISTORY_LIMIT })),
        lang: LANG,
        tz: TIME_ZONE,
        token: TOKEN,
      }),
      headers: t.Object({ 'accept-language': ACCEPT_LANGUAGE }),
    },
  },
  ...Object.fromEntries(MARKS.map((kind) => [`/users/:userId/alarms/${kind}`, { post: { params: USER_PARAMS, query: t.Object({ token: TOKEN }) } }])),
  '/users/:userId/alarms/:id': {
    delete: {
      params: t.Object({
        userId: USER_PARAMS.properties.userId,
        id: t.Unsafe<number>({ type: 'integer', minimum: 1, maximum: Number.MAX_SAFE_INTEGER, description: "The alarm's id (as published), not its seq." }),
      }),
      query: t.Object({ token: TOKEN }),
    },
  },
  '/users/:userId/presence': { get: { params: USER_PARAMS, query: t.Object({ token: TOKEN }) } },
  '/templates/:key': { get: { params: KEY_PARAMS }, put: { params: KEY_PARAMS } },
  '/templates': { get: { query: PAGE } },
  '/templates/coverage': { get: { query: PAGE } },
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
      if (isRefusal(method.toUpperCase(), elysiaPath)) continue
      const written = OPERATIONS[`${method.toUpperCase()} ${elysiaPath}`]
      ;(paths[path] ??= {})[method] = written ? complete(operation, written, { body: method !== 'head' }) : operation
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

/** `body: false` for HEAD: its refusals are a status and headers, never a body. */
function complete(generated: Json, { errors = [], responses, ...written }: Operation, { body }: { body: boolean }): Json {
  const byStatus = new Map<number, Code[]>()
  for (const code of errors) byStatus.set(CODES[code], [...(byStatus.get(CODES[code]) ?? []), code])
  const errorResponses = Object.fromEntries([...byStatus].map(([status, codes]) => [String(status), errorResponse(codes, { body })]))
  return {
    ...generated,
    ...written,
    security: written.security ?? [],
    responses: {
      ...responses,
      ...errorResponses,
      431: body ? { $ref: '#/components/responses/HeadersTooLarge' } : errorResponse([C.HEADERS_TOO_LARGE], { body }),
      500: body ? { $ref: '#/components/responses/Internal' } : errorResponse([C.INTERNAL], { body }),
    },
  }
}

function errorResponse(codes: Code[], { body = true }: { body?: boolean } = {}): Json {
  const retry = codes.some((code) => code === C.RATE_LIMITED || code === C.TOO_MANY_STREAMS || code === C.USER_BUSY)
  const auth = codes.includes(C.UNAUTHORIZED)
  // Answered before the body was read to its end (errors.ts UNREAD_BODY): the connection goes with it.
  const close = codes.some((code) => code === C.PAYLOAD_TOO_LARGE || code === C.REQUEST_TIMEOUT)
  return {
    description: codes.map((code) => `${code}: ${ERROR_WHEN[code]}`).join('; '),
    ...((retry || auth || close) && {
      headers: {
        ...(retry && { 'Retry-After': { description: 'Seconds to wait before retrying.', schema: { type: 'integer' } } }),
        ...(auth && { 'WWW-Authenticate': { schema: { type: 'string', const: 'Bearer realm="herald"' } } }),
        ...(close && { Connection: { description: 'The rest of the body is not read.', schema: { type: 'string', const: 'close' } } }),
      },
    }),
    ...(body && {
      content: {
        'application/json': {
          schema: {
            allOf: [{ $ref: '#/components/schemas/Error' }, object({ error: object({ code: { type: 'string', enum: codes } }, []) })],
          },
        },
      },
    }),
  }
}

function object(properties: Record<string, Json>, required = Object.keys(properties)): Json {
  return { type: 'object', properties, required, additionalProperties: false }
}

const LOCALE = { type: 'string', description: 'A BCP 47 language tag.', examples: ['ko', 'en-US', 'ja'] }

const STAMP = { type: ['string', 'null'], format: 'date-time' }

/** An alarm as the stream's `alarm` event and a history item show it (alarmJson in stream/render.ts). */
const ALARM: Record<string, Json> = {
  id: { type: 'integer' },
  seq: { type: 'integer' },
  locale: { ...LOCALE, description: 'The language of `message`, as chosen for this stream (or request).' },
  message: { type: 'string', description: "The text, or the template rendered in that locale and the stream's (or request's) time zone." },
  template: { type: 'string', description: 'A template alarm: its template key.' },
  renderError: {
    type: 'string',
    enum: Object.values(RENDER_ERRORS),
    description:
      "A template alarm that could not be rendered as its template says (a direct writer's row): its params no longer fit (the arguments that do not show as `{name}`), " +
      'its text in this locale does not parse (shown as written), or its template is gone (the key is shown).',
  },
  data: { type: 'object' },
  createdAt: { type: 'string', format: 'date-time' },
  expiresAt: { type: 'string', format: 'date-time', description: 'Set when the alarm expires: from then on it is not shown (a client may hide it at that moment).' },
}
const ALARM_REQUIRED = ['id', 'seq', 'locale', 'message', 'data', 'createdAt']

/** Locale → text, as a publish and a template carry them (input.ts parseMessages). */
const TEXTS = {
  type: 'object',
  minProperties: 1,
  maxProperties: MAX_ALARM_LOCALES,
  propertyNames: LOCALE,
  additionalProperties: { type: 'string', minLength: 1, maxLength: MAX_MESSAGE },
}

const TEMPLATE_SUMMARY: Record<string, Json> = {
  key: { type: 'string' },
  version: { type: 'integer', minimum: 1 },
  locales: { type: 'array', items: LOCALE },
  arguments: { $ref: '#/components/schemas/TemplateArguments' },
  description: { type: ['string', 'null'] },
  createdAt: { type: 'string', format: 'date-time' },
  updatedAt: { type: 'string', format: 'date-time' },
}

const USER_ID = { type: 'string', minLength: 1, maxLength: 200 }

/** What an alarm is, besides whose: one publish's, a batch item's and a fan-out's fields. */
const ALARM_PROPERTIES: Record<string, Json> = {
  messages: { ...TEXTS, description: 'Locale → text; keys are canonicalized (`en-us` → `en-US`).' },
  template: { type: 'string', pattern: TEMPLATE_KEY.source, description: 'Instead of `messages`: a template key (PUT /templates/:key).' },
  params: {
    type: 'object',
    description:
      "With `template`: a value for each of its `arguments` and nothing else (default {}): a string, a number, or a date (an ISO 8601 date-time with `Z` or an offset, or epoch milliseconds). " +
      'Numbers a double cannot hold exactly are refused: send them as strings.',
  },
  data: { type: 'object', description: 'Any JSON object, at most 32 levels deep; default {}. Numbers a double cannot hold exactly are refused: send them as strings.' },
  key: { type: 'string', minLength: 1, maxLength: 200, description: 'Idempotency key, per user.' },
  expiresAt: {
    type: 'string',
    format: 'date-time',
    description:
      'When the alarm expires: an ISO 8601 date and time with `Z` or an offset, in the future, at most HERALD_MAX_TTL (default a year) ahead. ' +
      'From then on it is not streamed, resumed, listed or counted in the badge, and it is deleted moments later.',
  },
  ttl: { type: 'integer', minimum: 1, description: 'Instead of `expiresAt`: whole seconds from the commit, at most HERALD_MAX_TTL (default 31536000).' },
}

/** Exactly one of texts or a template; `params` only with a template; at most one expiry. */
const ALARM_RULES = {
  oneOf: [
    { title: 'texts', required: ['messages'], not: { required: ['params'] } },
    { title: 'template', required: ['template'] },
  ],
  not: { required: ['expiresAt', 'ttl'] },
}

/** What POST /alarms answers for one alarm. */
const PUBLISHED = {
  id: { type: 'integer' },
  userId: { type: 'string' },
  seq: { type: 'integer', description: "The alarm's place in its user's order: the stream's event id." },
  locales: { type: 'array', items: LOCALE, description: "The alarm's languages: its texts', or its template's." },
  createdAt: { type: 'string', format: 'date-time' },
  expiresAt: { type: 'string', format: 'date-time', description: 'When it expires (a `ttl` made into an instant), if it does.' },
  template: { type: 'string', description: 'A template alarm: its template key.' },
} satisfies Record<string, Json>

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
    ...object({ userId: USER_ID, ...ALARM_PROPERTIES }, ['userId']),
    ...ALARM_RULES,
    examples: [
      { userId: 'tiaz', messages: { ko: '예약에 성공했습니다!', 'en-US': 'I have successfully made a reservation.' }, data: { reservationId: 17 }, key: 'reservation-17' },
      { userId: 'tiaz', template: 'reservation.confirmed', params: { seats: 3, at: '2026-12-12T10:30:00Z' }, data: { reservationId: 17 } },
    ],
  },
  FanOutBody: {
    ...object(
      {
        userIds: {
          type: 'array',
          items: USER_ID,
          minItems: 1,
          maxItems: MAX_FAN_OUT,
          uniqueItems: true,
          description: 'Instead of `userId`: one alarm for each of these users, each valid as a `userId`, none twice.',
        },
        ...ALARM_PROPERTIES,
        key: { type: 'string', minLength: 1, maxLength: 200, description: "Idempotency key of the whole fan-out (each user's alarm holds it)." },
      },
      ['userIds'],
    ),
    ...ALARM_RULES,
    examples: [{ userIds: ['tiaz', 'mina', 'jun'], messages: { ko: 'KE17편이 40분 지연됩니다', en: 'Flight KE17 is 40 minutes late' }, data: { flight: 'KE17' }, key: 'KE17-delay-1', ttl: 86400 }],
  },
  PublishedAlarm: object(PUBLISHED, ['id', 'userId', 'seq', 'locales', 'createdAt']),
  FanOutPublished: object(
    {
      alarms: {
        type: 'array',
        description: "Every user's alarm, in the order of `userIds`.",
        items: object({ userId: PUBLISHED.userId, id: PUBLISHED.id, seq: PUBLISHED.seq }),
      },
      locales: PUBLISHED.locales,
      createdAt: { type: 'string', format: 'date-time', description: 'When the fan-out committed (all its alarms at once).' },
      expiresAt: PUBLISHED.expiresAt,
      template: PUBLISHED.template,
    },
    ['alarms', 'locales', 'createdAt'],
  ),
  BatchBody: {
    ...object({
      alarms: {
        type: 'array',
        minItems: 1,
        maxItems: MAX_BATCH,
        items: { $ref: '#/components/schemas/PublishBody' },
        description: 'The alarms, each a POST /alarms body for one user; stored all or none.',
      },
    }),
    examples: [
      {
        alarms: [
          { userId: 'tiaz', messages: { ko: '예약에 성공했습니다!', 'en-US': 'I have successfully made a reservation.' }, data: { reservationId: 18 }, key: 'reservation-18' },
          { userId: 'mina', messages: { ko: '결제가 완료되었습니다', en: 'Payment received' }, data: { orderId: 9 } },
        ],
      },
    ],
  },
  BatchPublished: object({
    alarms: {
      type: 'array',
      description: 'One entry per item, in input order: what POST /alarms answers for it, and its status.',
      items: object(
        { status: { type: 'integer', enum: [201, 200], description: '201: stored; 200: its `key` was used before with this same alarm, which this is.' }, ...PUBLISHED },
        ['status', 'id', 'userId', 'seq', 'locales', 'createdAt'],
      ),
    },
  }),
  TemplateBody: {
    ...object(
      {
        messages: { ...TEXTS, description: "Locale → ICU MessageFormat text; keys are canonicalized and checked as a publish's. Every text of the key is replaced." },
        description: { type: ['string', 'null'], maxLength: MAX_DESCRIPTION, description: 'For people: what the notification is.' },
      },
      ['messages'],
    ),
    examples: [
      {
        description: 'the seed’s reservation, with seats and a time',
        messages: {
          en: '{seats, plural, one {# seat} other {# seats}} reserved for {at, date, medium}, {at, time, short}',
          ko: '{at, date, medium} {at, time, short}에 {seats}석이 예약되었습니다',
          ru: '{seats, plural, one {Забронировано # место} few {Забронировано # места} many {Забронировано # мест} other {Забронировано # места}} на {at, date, medium}, {at, time, short}',
        },
      },
    ],
  },
  TemplateArguments: {
    type: 'object',
    additionalProperties: { type: 'string', enum: ['string', 'number', 'date'] },
    description: 'Argument → the type a publish must give it. Fixed once the key is created.',
    examples: [{ at: 'date', seats: 'number' }],
  },
  TemplateWarning: {
    ...object({ locale: LOCALE, argument: { type: 'string' }, missing: { type: 'array', items: { type: 'string' } }, message: { type: 'string' } }),
    description: "A plural that lacks categories its locale's CLDR rules use (`missing`): those counts show `other`.",
  },
  TemplateSaved: object({
    key: { type: 'string' },
    version: { type: 'integer', minimum: 1, description: '+1 on every change; the same when nothing changed.' },
    locales: { type: 'array', items: LOCALE },
    arguments: { $ref: '#/components/schemas/TemplateArguments' },
    warnings: { type: 'array', items: { $ref: '#/components/schemas/TemplateWarning' } },
  }),
  TemplateSummary: object(TEMPLATE_SUMMARY),
  Template: object({
    ...TEMPLATE_SUMMARY,
    messages: { type: 'object', additionalProperties: { type: 'string' }, description: 'Locale → ICU MessageFormat text.' },
    warnings: { type: 'array', items: { $ref: '#/components/schemas/TemplateWarning' } },
  }),
  TemplatePage: object({
    templates: { type: 'array', items: { $ref: '#/components/schemas/TemplateSummary' }, maxItems: MAX_PAGE },
    next: { type: ['string', 'null'], description: 'The `after` of the next page; null at the end.' },
  }),
  Coverage: object({
    locales: { type: 'array', items: LOCALE, description: 'The languages Herald knows: the list streams negotiate to.' },
    templates: {
      type: 'array',
      maxItems: MAX_PAGE,
      items: object({
        key: { type: 'string' },
        locales: { type: 'array', items: LOCALE, description: 'The languages it has a text for.' },
        missing: { type: 'array', items: LOCALE, description: 'The languages Herald knows that it has no text for.' },
      }),
    },
    next: { type: ['string', 'null'], description: 'The `after` of the next page; null at the end.' },
  }),
  AlarmEvent: object(ALARM, ALARM_REQUIRED),
  HistoryItem: object(
    {
      ...ALARM,
      readAt: { ...STAMP, description: 'When the user opened this alarm; null: unread.' },
      seenAt: { ...STAMP, description: 'When the user opened the list with it; null: unseen.' },
      archivedAt: { ...STAMP, description: 'When it was archived; null: in the inbox.' },
    },
    [...ALARM_REQUIRED, 'readAt', 'seenAt', 'archivedAt'],
  ),
  HistoryPage: object({
    items: { type: 'array', items: { $ref: '#/components/schemas/HistoryItem' }, maxItems: MAX_HISTORY_LIMIT },
    next: { type: ['integer', 'null'], description: 'The `before` of the next page; null on the last one.' },
    badge: { $ref: '#/components/schemas/Badge' },
  }),
  MarkBody: {
    description: 'Exactly one of the three.',
    oneOf: [
      {
        ...object({
          ids: {
            type: 'array',
            minItems: 1,
            maxItems: MAX_MARK_IDS,
            items: { type: 'integer', minimum: 1, maximum: Number.MAX_SAFE_INTEGER },
            description: "These alarms (ids, not seqs), each one of the user's.",
          },
        }),
        title: 'ids',
      },
      { ...object({ upTo: { type: 'integer', minimum: 0, maximum: Number.MAX_SAFE_INTEGER, description: 'Every alarm with seq ≤ upTo.' } }), title: 'upTo' },
      { ...object({ all: { const: true, description: 'Every alarm of the user.' } }), title: 'all' },
    ],
    examples: [{ ids: [41, 42] }, { upTo: 812 }, { all: true }],
  },
  MarkResult: object({
    changed: { type: 'integer', minimum: 0, description: 'Alarms whose state this mark changed (those already in it are not counted).' },
    badge: { $ref: '#/components/schemas/Badge' },
  }),
  Deleted: object({
    id: { type: 'integer' },
    seq: { type: 'integer', description: "The deleted alarm's seq." },
    badge: { $ref: '#/components/schemas/Badge' },
  }),
  Presence: object({
    online: { type: 'boolean', description: 'Whether any device holds a stream open.' },
    devices: {
      type: 'array',
      description: 'Oldest first.',
      items: object({
        device: { type: ['string', 'null'], pattern: DEVICE.source, description: 'Null for the unnamed device.' },
        locale: { ...LOCALE, description: "That stream's locale." },
        openedAt: { type: 'string', format: 'date-time' },
      }),
    },
  }),
  StateEvent: {
    description: 'Which alarms changed: by id, or every alarm up to a seq (a mark by `upTo`, and for `all` the newest alarm it changed).',
    oneOf: [
      object({ seq: { type: 'integer' }, change: { $ref: '#/components/schemas/StateChange' }, ids: { type: 'array', items: { type: 'integer' }, minItems: 1 } }),
      object({ seq: { type: 'integer' }, change: { $ref: '#/components/schemas/StateChange' }, upTo: { type: 'integer', minimum: 0 } }),
    ],
  },
  // `unseen` has no mark of its own: only a direct writer's UPDATE makes it (sql/006).
  StateChange: { type: 'string', enum: ['read', 'unread', 'seen', 'unseen', 'archive', 'unarchive'] },
  Badge: {
    ...object({ unread: { type: 'integer', minimum: 0 }, unseen: { type: 'integer', minimum: 0 } }),
    description: "The user's alarms not read (not seen) and not archived: exact at every moment.",
  },
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
