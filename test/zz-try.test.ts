import { test } from 'bun:test'
import { toOpenAPISchema } from '@elysiajs/openapi'
import { t } from 'elysia'
import { testHerald } from './helpers/herald'
test('try', async () => {
  await using h = await testHerald('zz')
  const app = h.herald.app
  console.log(app.routes.map(r => r.method + ' ' + r.path).join('\n'))
  const doc = toOpenAPISchema(app as any, { staticFile: false, methods: ['options', 'head'] } as any, [{ '/connection/:userId': { get: { query: t.Object({ lang: t.Optional(t.String({ description: 'x' })) }), headers: t.Object({ 'last-event-id': t.Optional(t.String()) }) } } }] as any)
  console.log(JSON.stringify(doc, null, 1).slice(0, 3000))
})
