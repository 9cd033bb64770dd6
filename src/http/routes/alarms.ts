// POST /alarms — publish one alarm with its texts.
import { Elysia } from 'elysia'
import { MAX_BODY_BYTES, parsePublishBody, readJson, type BodyLimits } from '../input'
import type { Available } from '../../locale'
import type { Publisher } from '../../store/publisher'
import type { Admission } from '../admission'

export function alarmRoutes(
  publisher: Publisher,
  available: Available,
  admission: Pick<Admission, 'admitPublish'>,
  body: BodyLimits = {},
) {
  return new Elysia({ name: 'alarms' }).post(
    '/alarms',
    async ({ request, server }) => {
      admission.admitPublish(request, server?.requestIP(request)?.address)
      const input = parsePublishBody(await readJson(request, { maxBytes: MAX_BODY_BYTES, ...body }))
      available.check(Object.keys(input.messages)) // before anything is stored
      const { alarm, created } = await publisher.publish(input)
      available.add(alarm.locales)
      return Response.json(alarm, { status: created ? 201 : 200 })
    },
    // The body is read and bounded by readJson, not by Elysia's parser.
    { parse: 'none' },
  )
}
