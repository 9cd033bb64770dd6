// The inbox's inputs, checked at the boundary like every other (input.ts): history's query
// parameters and a mark's body, each error naming the parameter or field.
import { Errors } from '../errors'
import { parseUserId } from './input'
import { STATUSES, type HistoryQuery, type MarkTarget, type Status } from '../store/inbox'

export const MAX_HISTORY_LIMIT = 100
export const DEFAULT_HISTORY_LIMIT = 20
export const MAX_MARK_IDS = 1000

/**
 * The userId of `/users/:userId/…`, decoded strictly (a broken escape is the client's error), and
 * the one Bun's router read from the target as sent (see input.ts pathUserId).
 */
export function usersPathUserId(request: Request, url: URL): string {
  const raw = url.pathname.split('/')[2] ?? ''
  let userId: string
  try {
    userId = decodeURIComponent(raw)
  } catch {
    throw Errors.invalidUserId('is not valid percent-encoded UTF-8')
  }
  const routed = (request as Request & { params?: Record<string, string> }).params?.userId
  if (routed !== undefined && routed !== userId) throw Errors.pathNotCanonical()
  return parseUserId(userId)
}

/** The `:id` of /users/:userId/alarms/:id: a segment that is no alarm id names no alarm (404). */
export function pathAlarmId(url: URL): number {
  const raw = url.pathname.split('/')[4] ?? ''
  if (!/^[1-9]\d{0,14}$/.test(raw)) throw Errors.noSuchAlarm(raw)
  return Number(raw)
}

export function parseHistoryQuery(params: URLSearchParams): HistoryQuery {
  for (const name of params.keys())
    if (!['status', 'before', 'limit', 'lang', 'tz', 'token'].includes(name)) throw Errors.invalidQuery(name, 'is not a known parameter')
  const status = params.get('status') ?? 'inbox'
  if (!(STATUSES as readonly string[]).includes(status))
    throw Errors.invalidQuery('status', `must be one of ${STATUSES.join(', ')}`)
  const before = params.get('before')
  const limit = params.get('limit')
  return {
    status: status as Status,
    ...(before === null ? {} : { before: seqOf(before, 'before') }),
    limit: limit === null ? DEFAULT_HISTORY_LIMIT : limitOf(limit),
  }
}

function seqOf(value: string, parameter: string): number {
  if (!/^\d{1,15}$/.test(value)) throw Errors.invalidQuery(parameter, `'${value.slice(0, 40)}' is not a seq (a non-negative integer)`)
  return Number(value)
}

function limitOf(value: string): number {
  const limit = /^\d{1,3}$/.test(value) ? Number(value) : NaN
  if (!(limit >= 1 && limit <= MAX_HISTORY_LIMIT)) throw Errors.invalidQuery('limit', `must be a whole number from 1 to ${MAX_HISTORY_LIMIT}`)
  return limit
}

/** Exactly one of `{"ids": [...]}`, `{"upTo": seq}` or `{"all": true}`. */
export function parseMarkBody(body: unknown): MarkTarget {
  if (typeof body !== 'object' || body === null || Array.isArray(body)) throw Errors.invalidBody('body', 'must be a JSON object')
  const fields = Object.keys(body)
  for (const field of fields) if (!['ids', 'upTo', 'all'].includes(field)) throw Errors.invalidBody(field, 'is not a known field')
  if (fields.length !== 1) throw Errors.invalidBody('body', 'must hold exactly one of ids, upTo or all')
  const { ids, upTo, all } = body as { ids?: unknown; upTo?: unknown; all?: unknown }
  if (fields[0] === 'all') {
    if (all !== true) throw Errors.invalidBody('all', 'must be true')
    return { all: true }
  }
  if (fields[0] === 'upTo') {
    if (!isSeq(upTo)) throw Errors.invalidBody('upTo', 'must be a seq (a non-negative integer)')
    return { upTo }
  }
  if (!Array.isArray(ids) || ids.length === 0 || ids.length > MAX_MARK_IDS)
    throw Errors.invalidBody('ids', `must be an array of 1 to ${MAX_MARK_IDS} alarm ids`)
  ids.forEach((id, i) => {
    if (!isSeq(id) || id === 0) throw Errors.invalidBody(`ids[${i}]`, 'must be an alarm id (a positive integer)')
  })
  return { ids: [...new Set(ids as number[])] }
}

function isSeq(value: unknown): value is number {
  return typeof value === 'number' && Number.isSafeInteger(value) && value >= 0
}
