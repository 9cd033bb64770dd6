// POST /alarms — publish one alarm, with its texts or with a template and its params.
import { Elysia } from 'elysia'
import { Errors, HeraldError } from '../../errors'
import { NO_METRICS, type Metrics } from '../../metrics'
import { MAX_BODY_BYTES, parsePublishBody, readJson, type BodyLimits, type PublishRules } from '../input'
import type { Available } from '../../locale'
import type { NewAlarm, PublishedAlarm } from '../../store/alarms'
import { isUnreachable } from '../../store/db'
import type { Publisher } from '../../store/publisher'
import type { Catalogue } from '../../templates/catalogue'
import { checkParams } from '../../templates/params'
import type { Admission } from '../admission'

export type AlarmRouteOptions = {
  publisher: Publisher
  available: Available
  admission: Pick<Admission, 'admitPublish'>
  templates: Pick<Catalogue, 'get'>
  body?: BodyLimits
  /** What a publish may ask for (HERALD_MAX_TTL). */
  rules?: PublishRules
  metrics?: Pick<Metrics, 'published' | 'publishAnswered'>
  /** Told of each stored alarm's expiry (the sweeper wakes for it). */
  expiring?: (at: string) => void
}

export function alarmRoutes({
  publisher,
  available,
  admission,
  templates,
  body = {},
  rules = {},
  metrics = NO_METRICS,
  expiring = () => {},
}: AlarmRouteOptions) {
  return new Elysia({ name: 'alarms' }).post(
    '/alarms',
    async ({ request, server }) => {
      const started = performance.now()
      const answered = (status: number) => metrics.publishAnswered(status, (performance.now() - started) / 1000)
      try {
        admission.admitPublish(request, server?.requestIP(request)?.address)
        const input = parsePublishBody(await readJson(request, { maxBytes: MAX_BODY_BYTES, ...body }), rules)
        const response = input.template ? await publishTemplated(input, input.template) : await publishTexts(input)
        answered(response.status)
        return response
      } catch (error) {
        // The status app.ts's onError will answer with.
        answered(error instanceof HeraldError ? error.status : isUnreachable(error) ? 503 : 500)
        throw error
      }
    },
    // The body is read and bounded by readJson, not by Elysia's parser.
    { parse: 'none' },
  )

  async function publishTexts(input: NewAlarm & { messages: Record<string, string> }) {
    available.check(Object.keys(input.messages)) // before anything is stored
    const { alarm, created } = await publisher.publish(input)
    available.add(alarm.locales)
    stored(alarm, created)
    return Response.json(alarm, { status: created ? 201 : 200 })
  }

  function stored(alarm: PublishedAlarm, created: boolean) {
    if (!created) return
    metrics.published('api')
    if (alarm.expiresAt) expiring(alarm.expiresAt)
  }

  /** Checked against the key's arguments before anything is stored; its languages are the template's. */
  async function publishTemplated(input: NewAlarm, { key, params }: { key: string; params: Record<string, unknown> }) {
    const template = await templates.get(key)
    if (!template) throw Errors.unknownTemplate(key)
    checkParams(template.arguments, params)
    const { alarm, created } = await publisher.publish(input)
    stored(alarm, created)
    return Response.json({ ...alarm, locales: template.locales, template: key }, { status: created ? 201 : 200 })
  }
}
