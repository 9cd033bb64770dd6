// POST /alarms — publish one alarm with its texts.
import { Elysia } from 'elysia'
import { parsePublishBody, readJson } from '../input'
import type { Available } from '../../locale'
import type { Publisher } from '../../store/publisher'
import type { Admission } from '../admission'
import { HeraldError } from '../../errors'
import { NO_METRICS, type Metrics } from '../../metrics'
import { isUnreachable } from '../../store/db'

export function alarmRoutes(
  publisher: Publisher,
  available: Available,
  admission: Pick<Admission, 'admitPublish'>,
  metrics: Pick<Metrics, 'published' | 'publishAnswered'> = NO_METRICS,
) {
  return new Elysia({ name: 'alarms' }).post(
    '/alarms',
    async ({ request, server }) => {
      const started = performance.now()
      const answered = (status: number) => metrics.publishAnswered(status, (performance.now() - started) / 1000)
      try {
        admission.admitPublish(request, server?.requestIP(request)?.address)
        const input = parsePublishBody(await readJson(request))
        available.check(Object.keys(input.messages)) // before anything is stored
        const { alarm, created } = await publisher.publish(input)
        available.add(alarm.locales)
        if (created) metrics.published('api')
        answered(created ? 201 : 200)
        return Response.json(alarm, { status: created ? 201 : 200 })
      } catch (error) {
        // The status app.ts's onError will answer with.
        answered(error instanceof HeraldError ? error.status : isUnreachable(error) ? 503 : 500)
        throw error
      }
    },
    // The body is read and bounded by readJson, not by Elysia's parser.
    { parse: 'none' },
  )
}
