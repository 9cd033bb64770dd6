// POST /alarms — publish one alarm (its texts, or a template and its params), or with `userIds`
// one alarm for each of many users (a fan-out); POST /alarms/batch — many alarms, all or none.
import { Elysia } from 'elysia'
import { Errors, HeraldError } from '../../errors'
import { NO_METRICS, type Metrics } from '../../metrics'
import { isFanOut, MAX_BATCH_BYTES, MAX_FAN_OUT_BYTES, parseBatchBody, parseFanOutBody } from '../batch-input'
import { MAX_BODY_BYTES, parsePublishBody, readJson, readSizedJson, type BodyLimits, type PublishRules } from '../input'
import { isUnreachable } from '../../store/db'
import type { Publishing } from '../publishing'
import type { Admission } from '../admission'

export type AlarmRouteOptions = {
  publishing: Publishing
  admission: Pick<Admission, 'admitPublish'>
  body?: Pick<BodyLimits, 'timeoutMs'>
  /** What a publish may ask for (HERALD_MAX_TTL). */
  rules?: PublishRules
  metrics?: Pick<Metrics, 'publishAnswered'>
}

export function alarmRoutes({ publishing, admission, body = {}, rules = {}, metrics = NO_METRICS }: AlarmRouteOptions) {
  /**
   * A publish route: the publisher admitted before the body is read (a batch or a fan-out is one
   * publish to the rate limit), every answer counted with its status and time.
   */
  const publishRoute =
    (publish: (request: Request) => Promise<Response>) =>
    async ({ request, server }: { request: Request; server: { requestIP(request: Request): { address: string } | null } | null }) => {
      const started = performance.now()
      const answered = (status: number) => metrics.publishAnswered(status, (performance.now() - started) / 1000)
      try {
        admission.admitPublish(request, server?.requestIP(request)?.address)
        const response = await publish(request)
        answered(response.status)
        return response
      } catch (error) {
        // The status app.ts's onError will answer with.
        answered(error instanceof HeraldError ? error.status : isUnreachable(error) ? 503 : 500)
        throw error
      }
    }

  return (
    new Elysia({ name: 'alarms' })
      .post(
        '/alarms',
        publishRoute(async (request) => {
          // One alarm's body is at most 64 KiB; a fan-out's, which declares its length, at most 1 MiB.
          const { value, bytes } = await readSizedJson(request, { maxBytes: MAX_BODY_BYTES, maxDeclaredBytes: MAX_FAN_OUT_BYTES, ...body })
          if (isFanOut(value)) return publishing.fanOut(parseFanOutBody(value, rules))
          if (bytes > MAX_BODY_BYTES) throw Errors.payloadTooLarge(MAX_BODY_BYTES)
          return publishing.one(parsePublishBody(value, rules))
        }),
        // The body is read and bounded by readJson, not by Elysia's parser.
        { parse: 'none' },
      )
      .post(
        '/alarms/batch',
        publishRoute(async (request) => publishing.batch(parseBatchBody(await readJson(request, { ...body, maxBytes: MAX_BATCH_BYTES }), rules))),
        { parse: 'none' },
      )
  )
}
