// What a publish does once its body is checked: its content against the catalogue and the
// languages (before anything is stored), then the store, then the answer. One alarm (POST /alarms),
// a fan-out (POST /alarms with userIds) and a batch (POST /alarms/batch) share these steps; the
// routes only read bodies and count answers.
import { C, Errors, inPart } from '../errors'
import { NO_METRICS, type Metrics } from '../metrics'
import type { Available } from '../locale'
import type { NewAlarm, PublishedAlarm } from '../store/alarms'
import type { BulkConflict, BulkPublisher } from '../store/bulk'
import type { Published, Publisher } from '../store/publisher'
import type { Catalogue, Template } from '../templates/catalogue'
import { checkParams } from '../templates/params'
import type { FanOut } from './batch-input'

export type PublishingOptions = {
  publisher: Pick<Publisher, 'publish'>
  bulk: Pick<BulkPublisher, 'publish'>
  available: Available
  templates: Pick<Catalogue, 'get'>
  metrics?: Pick<Metrics, 'published'>
  /** Told of the earliest expiry among stored alarms (the sweeper wakes for it). */
  expiring?: (at: string) => void
}

export type Publishing = {
  one(alarm: NewAlarm): Promise<Response>
  fanOut(fanOut: FanOut): Promise<Response>
  batch(alarms: NewAlarm[]): Promise<Response>
}

export function createPublishing({ publisher, bulk, available, templates, metrics = NO_METRICS, expiring = () => {} }: PublishingOptions): Publishing {
  /** A template alarm's template exists and its params fit it (checked before anything is stored). */
  async function checkTemplate(alarm: NewAlarm): Promise<Template | undefined> {
    if (!alarm.template) return undefined
    const template = await templates.get(alarm.template.key)
    if (!template) throw Errors.unknownTemplate(alarm.template.key)
    checkParams(template.arguments, alarm.template.params)
    return template
  }

  /**
   * Herald may learn the languages of a batch's texts: all of them together within its cap. When
   * they would pass it, the error names the first alarm that does.
   */
  function checkLanguages(alarms: NewAlarm[]) {
    const all = new Set(alarms.flatMap((alarm) => Object.keys(alarm.messages ?? {})))
    try {
      available.check([...all])
    } catch (error) {
      const seen = new Set<string>()
      for (const [i, alarm] of alarms.entries()) {
        for (const tag of Object.keys(alarm.messages ?? {})) seen.add(tag)
        try {
          available.check([...seen])
        } catch (itself) {
          throw inPart(itself, `alarms[${i}]`)
        }
      }
      throw error
    }
  }

  /** What POST /alarms answers for one alarm: a template alarm's languages are its template's. */
  function answerOf(alarm: PublishedAlarm, template: Template | undefined) {
    return template ? { ...alarm, locales: template.locales, template: template.key } : alarm
  }

  /** Learns the alarms' languages; counts what was stored and tells the sweeper of its earliest expiry. */
  function stored(published: Published[]) {
    let created = 0
    let earliest: string | undefined
    const locales = new Set<string>()
    for (const { alarm, created: isNew } of published) {
      for (const tag of alarm.locales) locales.add(tag) // a template alarm's are none: its template's are known
      if (!isNew) continue
      created++
      if (alarm.expiresAt && (earliest === undefined || alarm.expiresAt < earliest)) earliest = alarm.expiresAt
    }
    if (locales.size) available.add(locales)
    if (created) metrics.published('api', created)
    if (earliest) expiring(earliest)
  }

  /**
   * All or none. A batch of one is one publish: it joins the group commit, as POST /alarms does
   * (the publisher's answers are the same: a repeat, a conflict, USER_BUSY).
   */
  async function storeBatch(alarms: NewAlarm[]): Promise<Published[]> {
    if (alarms.length === 1)
      try {
        return [await publisher.publish(alarms[0]!)]
      } catch (error) {
        throw (error as { code?: string }).code === C.IDEMPOTENCY_CONFLICT ? inPart(error, 'alarms[0]') : error
      }
    const result = await bulk.publish(alarms, 'each')
    if ('conflict' in result) throw batchConflict(result.conflict, alarms)
    return result.published
  }

  return {
    async one(alarm) {
      const template = await checkTemplate(alarm)
      if (alarm.messages) available.check(Object.keys(alarm.messages))
      const published = await publisher.publish(alarm)
      stored([published])
      return Response.json(answerOf(published.alarm, template), { status: published.created ? 201 : 200 })
    },

    async fanOut({ userIds, alarm }) {
      const alarms = userIds.map((userId): NewAlarm => ({ userId, ...alarm }))
      const template = await checkTemplate(alarms[0]!)
      if (alarm.messages) available.check(Object.keys(alarm.messages))
      const result = await bulk.publish(alarms, 'whole')
      if ('conflict' in result) throw fanOutConflict(result.conflict, alarm.key!)
      const { published } = result
      stored(published)
      const head = answerOf(published[0]!.alarm, template)
      return Response.json(
        {
          alarms: published.map(({ alarm: one }) => ({ userId: one.userId, id: one.id, seq: one.seq })),
          locales: head.locales,
          createdAt: head.createdAt,
          ...(head.expiresAt ? { expiresAt: head.expiresAt } : {}),
          ...(template ? { template: template.key } : {}),
        },
        // A retry of the whole fan-out: every alarm is the first one, nothing was stored.
        { status: published.some((one) => one.created) ? 201 : 200 },
      )
    },

    async batch(alarms) {
      const used: (Template | undefined)[] = []
      for (const [i, alarm] of alarms.entries()) {
        try {
          used.push(await checkTemplate(alarm))
        } catch (error) {
          throw inPart(error, `alarms[${i}]`)
        }
      }
      checkLanguages(alarms)
      const published = await storeBatch(alarms)
      stored(published)
      return Response.json(
        { alarms: published.map(({ alarm, created }, i) => ({ status: created ? 201 : 200, ...answerOf(alarm, used[i]) })) },
        // All repeats: the batch was sent before, as a retried POST /alarms answers 200.
        { status: published.some((one) => one.created) ? 201 : 200 },
      )
    },
  }
}

function batchConflict(conflict: BulkConflict, alarms: NewAlarm[]): unknown {
  const index = conflict.kind === 'different' ? conflict.index : conflict.missing
  return inPart(Errors.idempotencyConflict(alarms[index]!.key!), `alarms[${index}]`)
}

function fanOutConflict(conflict: BulkConflict, key: string): unknown {
  if (conflict.kind === 'partial') return Errors.fanOutConflict(key, `userIds[${conflict.holder}]`, `userIds[${conflict.missing}]`)
  return Errors.fanOutDifferent(key, `userIds[${conflict.index}]`)
}
