// GET /openapi.json: a valid OpenAPI 3.1 document of exactly the routes Herald serves, every error
// code of the catalogue under its status, and event shapes that are what the stream sends.
import { afterAll, beforeAll, describe, expect, test } from 'bun:test'
import { Validator } from '@seriousme/openapi-schema-validator'
import { CODES } from '../src/errors'
import { OPERATIONS, SSE_EVENTS } from '../src/http/openapi'
import { nextAlarm, ready, testHerald, type TestHerald } from './helpers/herald'

type Json = Record<string, any>

let h: TestHerald
let doc: Json
beforeAll(async () => {
  h = await testHerald('openapi')
  const res = await fetch(`${h.url}/openapi.json`)
  expect(res.status).toBe(200)
  expect(res.headers.get('content-type')).toBe('application/json')
  doc = await res.json()
})
afterAll(async () => {
  await h[Symbol.asyncDispose]()
})

/**
 * What Herald serves: Elysia's route table without the 405s not-allowed.ts registered for the
 * methods each path lacks (its HEAD and OPTIONS among them), as the document leaves them out.
 */
function served({ app, isRefusal }: TestHerald['herald']): string[] {
  return (app.routes as { method: string; path: string }[])
    .filter(({ method, path }) => !isRefusal(method, path))
    .map(({ method, path }) => `${method} ${path.replace(/:(\w+)/g, '{$1}')}`)
    .sort()
}

function documented(document: Json): string[] {
  return Object.entries(document.paths as Record<string, Json>)
    .flatMap(([path, item]) => Object.keys(item).map((method) => `${method.toUpperCase()} ${path}`))
    .sort()
}

function operations(document: Json): [string, Json][] {
  return Object.entries(document.paths as Record<string, Json>).flatMap(([path, item]) =>
    Object.entries(item).map(([method, op]) => [`${method.toUpperCase()} ${path}`, op as Json] as [string, Json]),
  )
}

describe('the document', () => {
  test('is valid OpenAPI 3.1', async () => {
    const result = await new Validator().validate(doc as never)
    expect(result.errors ?? []).toEqual([])
    expect(result.valid).toBe(true)
    expect(doc.openapi).toStartWith('3.1.')
  })

  test('has every route Herald serves, and nothing else', () => {
    expect(documented(doc)).toEqual(served(h.herald))
    expect(documented(doc)).toContain('GET /connection/{userId}')
    expect(documented(doc)).toContain('GET /metrics')
    expect(documented(doc)).toContain('HEAD /connection/{userId}')
  })

  test("leaves out the 405s not-allowed.ts registers for the methods a path lacks, and they are 405s", async () => {
    const refusals = (h.herald.app.routes as { method: string; path: string }[]).filter(({ method, path }) => h.herald.isRefusal(method, path))
    expect(refusals.length).toBeGreaterThan(0)
    expect(documented(doc)).not.toContain('PUT /connection/{userId}')
    expect(documented(doc)).not.toContain('OPTIONS /alarms')
    const put = await fetch(`${h.url}/connection/someone`, { method: 'PUT' })
    expect(put.status).toBe(405)
    expect(put.headers.get('allow')).toBe('GET')
    expect(h.herald.isRefusal('PUT', '/connection/:userId')).toBe(true)
    expect(h.herald.isRefusal('HEAD', '/connection/:userId')).toBe(false)
  })

  test('has no route without its written part: a summary, tags, responses; nothing written for a route that does not exist', () => {
    for (const [route, op] of operations(doc)) {
      expect({ route, summary: typeof op.summary }).toEqual({ route, summary: 'string' })
      expect(op.tags.length).toBeGreaterThan(0)
      expect(Object.keys(op.responses).length).toBeGreaterThan(2)
    }
    const routes = new Set(served(h.herald).map((route) => route.replace(/\{(\w+)\}/g, ':$1')))
    expect(Object.keys(OPERATIONS).filter((key) => !routes.has(key))).toEqual([])
  })

  test('a route that is off is not in it: with HERALD_METRICS=off there is no /metrics', async () => {
    await using off = await testHerald('openapi_off', { metricsMode: 'off' })
    const document = await (await fetch(`${off.url}/openapi.json`)).json()
    expect(documented(document)).toEqual(served(off.herald))
    expect(documented(document)).not.toContain('GET /metrics')
  })

  test("every code of the catalogue is in it, each under its own status, with the catalogue's schema", () => {
    const seen = new Set<string>()
    const check = (status: string, response: Json) => {
      const codes: string[] = response.content?.['application/json']?.schema?.allOf?.[1]?.properties?.error?.properties?.code?.enum ?? []
      for (const code of codes) {
        expect({ code, status: Number(status) }).toEqual({ code, status: CODES[code as keyof typeof CODES] })
        seen.add(code)
      }
    }
    for (const [, op] of operations(doc)) for (const [status, response] of Object.entries(op.responses as Json)) check(status, response)
    for (const response of Object.values(doc.components.responses as Json)) check(String(CODES[(response as Json).content['application/json'].schema.allOf[1].properties.error.properties.code.enum[0] as keyof typeof CODES]), response as Json)
    expect([...seen].sort()).toEqual(Object.keys(CODES).sort())
    expect(doc.components.schemas.Error.properties.error.properties.code.enum.sort()).toEqual(Object.keys(CODES).sort())
  })

  test("the stream's parameters: userId, lang, since, token, Last-Event-ID, Accept-Language; its security", () => {
    const op = doc.paths['/connection/{userId}'].get
    const params = op.parameters.map((p: Json) => `${p.in}:${p.name}`).sort()
    expect(params).toEqual(['header:accept-language', 'header:last-event-id', 'path:userId', 'query:lang', 'query:since', 'query:token'])
    expect(op.security).toEqual([{ subscriberToken: [] }, { tokenQuery: [] }, { tokenCookie: [] }, {}])
    expect(Object.keys(op.responses['200'].content)).toEqual(['text/event-stream'])
  })

  test('the publish body Herald parses itself is described, and it is what Herald accepts', async () => {
    const body = doc.paths['/alarms'].post.requestBody.content['application/json'].schema
    const schema = doc.components.schemas[body.$ref.split('/').at(-1)]
    expect(Object.keys(schema.properties).sort()).toEqual(['data', 'key', 'messages', 'userId'])
    expect(schema.required).toEqual(['userId', 'messages'])
    // The schema's own example is a valid publish; a field it does not list is refused.
    expect((await h.publish(schema.examples[0])).status).toBe(201)
    const refused = await h.publish({ ...schema.examples[0], unknown: 1 })
    expect(refused.status).toBe(400)
    expect((await refused.json()).error.code).toBe('INVALID_BODY')
  })
})

describe('the event stream as documented', () => {
  test('lists ready, alarm, superseded and expired, and a real stream sends exactly the documented fields', async () => {
    const events = doc.components.schemas.StreamEvent.oneOf
    expect(events.map((e: Json) => e.title)).toEqual(Object.keys(SSE_EVENTS))
    expect(Object.keys(SSE_EVENTS)).toEqual(['ready', 'alarm', 'superseded', 'expired'])
    const dataOf = (name: string) => {
      const schema = events.find((e: Json) => e.title === name).properties.data.contentSchema
      return schema.$ref ? doc.components.schemas[schema.$ref.split('/').at(-1)] : schema
    }
    const older = await h.subscribe('documented', { lang: 'ko' })
    const readyData = await ready(older)
    expect(Object.keys(readyData).sort()).toEqual(Object.keys(dataOf('ready').properties).sort())
    await h.publish({ userId: 'documented', messages: { ko: '안녕' }, data: { n: 1 } })
    const { eventId, ...alarm } = await nextAlarm(older)
    expect(eventId).toMatch(new RegExp(events.find((e: Json) => e.title === 'alarm').properties.id.pattern))
    expect(Object.keys(alarm).sort()).toEqual(Object.keys(dataOf('alarm').properties).sort())
    const newer = await h.subscribe('documented', { lang: 'ko' })
    await ready(newer)
    const superseded = await older.nextEvent()
    expect(superseded?.event).toBe('superseded')
    expect(JSON.parse(superseded!.data!)).toEqual({ reason: dataOf('superseded').properties.reason.const })
    expect(superseded?.retry).toBeGreaterThan(0)
    await newer.cancel()
  })
})

describe('GET /docs', () => {
  test('is a page that loads only what Herald itself serves', async () => {
    const res = await fetch(`${h.url}/docs`)
    expect(res.status).toBe(200)
    expect(res.headers.get('content-type')).toContain('text/html')
    expect(res.headers.get('content-security-policy')).toContain("default-src 'self'")
    const html = await res.text()
    const refs = [...html.matchAll(/(?:src|href)="([^"]+)"/g)].map((m) => m[1]!)
    expect(refs.length).toBe(3)
    for (const ref of refs) {
      expect(ref).toStartWith('/') // same origin: nothing from a CDN
      expect(ref).not.toStartWith('//')
      const asset = await fetch(h.url + ref)
      expect(asset.status).toBe(200)
      expect((await asset.text()).length).toBeGreaterThan(20)
    }
    const init = await (await fetch(`${h.url}/docs/init.js`)).text()
    expect(init).toContain("url: '/openapi.json'")
    expect(init).toContain('validatorUrl: null')
  })
})
