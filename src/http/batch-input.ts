// The bodies that carry many alarms: a batch (POST /alarms/batch, `{"alarms": [...]}`) and a
// fan-out (POST /alarms with `userIds` instead of `userId`). Every part is checked exactly as
// POST /alarms checks one alarm (input.ts), and an error names where it is: `alarms[3].messages.ko:
// must not be empty`, `userIds[7]: repeats userIds[2]`. No I/O.
import { Errors, inPart } from '../errors'
import type { NewAlarm } from '../store/alarms'
import { ALARM_FIELDS, isPlainObject, parseAlarmFields, parsePublishBody, parseUserId, type AlarmFields, type PublishRules } from './input'

/** Alarms one batch may carry. */
export const MAX_BATCH = 1000
/** Users one fan-out may name. */
export const MAX_FAN_OUT = 10_000
/** A batch's body: 1,000 alarms of about 8 KiB each (a larger batch is split by its sender). */
export const MAX_BATCH_BYTES = 8 * 1024 * 1024
/**
 * A fan-out's body, when it declares its length: 10,000 user ids of up to ~90 characters, next to
 * one alarm's 64 KiB. A body without Content-Length is held to POST /alarms's 64 KiB as it arrives.
 */
export const MAX_FAN_OUT_BYTES = 1024 * 1024

/** One alarm for each of `userIds`: the same content, data, key and expiry. */
export type FanOut = { userIds: string[]; alarm: AlarmFields }

/** A POST /alarms body that names `userIds` is a fan-out (checked by parseFanOutBody). */
export function isFanOut(body: unknown): body is Record<string, unknown> {
  return isPlainObject(body) && body.userIds !== undefined
}

const FAN_OUT_FIELDS = new Set<string>(['userIds', ...ALARM_FIELDS])

export function parseFanOutBody(body: Record<string, unknown>, rules: PublishRules = {}): FanOut {
  for (const field of Object.keys(body)) {
    if (field === 'userId') throw Errors.invalidBody('userId', 'and userIds exclude each other: send one')
    if (!FAN_OUT_FIELDS.has(field)) throw Errors.invalidBody(field, 'is not a known field')
  }
  const userIds = parseUserIds(body.userIds)
  return { userIds, alarm: parseAlarmFields(body, rules) }
}

/** 1 to MAX_FAN_OUT user ids, each valid, none twice (two alarms for one user would be a mistake, not a fan-out). */
function parseUserIds(value: unknown): string[] {
  if (!Array.isArray(value)) throw Errors.invalidBody('userIds', 'must be an array of user ids')
  if (value.length === 0 || value.length > MAX_FAN_OUT)
    throw Errors.invalidBody('userIds', `must hold 1 to ${MAX_FAN_OUT} user ids (it holds ${value.length}); split a larger fan-out`)
  const seen = new Map<string, number>()
  return value.map((item, i) => {
    const userId = parseUserId(item, `userIds[${i}]`)
    const earlier = seen.get(userId)
    if (earlier !== undefined) throw Errors.invalidBody(`userIds[${i}]`, `repeats userIds[${earlier}]: each user once`)
    seen.set(userId, i)
    return userId
  })
}

/** A batch's alarms, in input order, each checked as POST /alarms checks its body. */
export function parseBatchBody(body: unknown, rules: PublishRules = {}): NewAlarm[] {
  if (!isPlainObject(body)) throw Errors.invalidBody('body', 'must be a JSON object: {"alarms": [...]}')
  for (const field of Object.keys(body)) if (field !== 'alarms') throw Errors.invalidBody(field, 'is not a known field')
  const items = body.alarms
  if (!Array.isArray(items)) throw Errors.invalidBody('alarms', 'must be an array of alarms (each a POST /alarms body)')
  if (items.length === 0 || items.length > MAX_BATCH)
    throw Errors.invalidBody('alarms', `must hold 1 to ${MAX_BATCH} alarms (it holds ${items.length}); split a larger batch`)
  // One key twice for one user in one batch: the second could only be a repeat of the first, or a conflict with it.
  const keys = new Map<string, number>()
  return items.map((item, i) => {
    let alarm: NewAlarm
    try {
      alarm = parsePublishBody(item, rules)
    } catch (error) {
      throw inPart(error, `alarms[${i}]`)
    }
    if (alarm.key !== undefined) {
      const slot = `${alarm.userId}\u0000${alarm.key}`
      const earlier = keys.get(slot)
      if (earlier !== undefined) throw Errors.invalidBody(`alarms[${i}].key`, `repeats alarms[${earlier}]'s key for the same user`)
      keys.set(slot, i)
    }
    return alarm
  })
}
