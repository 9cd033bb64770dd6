// POST /alarms — publish one alarm with its texts.
import { Elysia } from 'elysia'
import { parsePublishBody, readJson } from '../input'
import type { Available } from '../../locale'
import type { Publisher } from '../../store/publisher'

/** Checks the publisher before the body is read: auth, then its rate. */
export type PublishGate = (request: Request) => void

export function alarmRoutes(publisher: Publisher, available: Available, gate: PublishGate, inFlight: Set<Promise<unknown>>) {
  return new Elysia({ name: 'alarms' }).post(
    '/alarms',
    async ({ request }) => {
      gate(request)
      const input = parsePublishBody(await readJson(request))
      // Shutdown waits for these: a publish that started is answered, not cut.
      const publishing = publisher.publish(input)
      inFlight.add(publishing)
      try {
        const { alarm, created } = await publishing
        available.add(alarm.locales)
        return Response.json(alarm, { status: created ? 201 : 200 })
      } finally {
        inFlight.delete(publishing)
      }
    },
    // The body is read and bounded by readJson, not by Elysia's parser.
    { parse: 'none' },
  )
}
