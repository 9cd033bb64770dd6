// POST /alarms — publish one alarm with its texts.
import { Elysia } from 'elysia'
import { publish } from '../alarms'
import type { Sql } from '../db'
import { parsePublishBody, readJson } from '../input'
import type { Available } from '../locale'

export function alarmRoutes(sql: Sql, available: Available) {
  return new Elysia({ name: 'alarms' }).post(
    '/alarms',
    async ({ request }) => {
      const input = parsePublishBody(await readJson(request))
      const { alarm, created } = await publish(sql, input)
      available.add(alarm.locales)
      return Response.json(alarm, { status: created ? 201 : 200 })
    },
    // The body is read and bounded by readJson, not by Elysia's parser.
    { parse: 'none' },
  )
}
