// GET /openapi.json: a valid OpenAPI 3.1 document of exactly the routes Herald serves, every error
// code of the catalogue under its status, and event shapes that are what the stream sends.
import { afterAll, beforeAll, describe, expect, test } from 'bun:test'
import { Validator } from '@seriousme/openapi-schema-validator'
import { CODES } from '../src/errors'
import { OPERATIONS, SSE_EVENTS } from '../src/http/openapi'
import { ready, testHerald, type Subscription, type TestHerald } from './helpers/herald'

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

function putTemplate(key: string, body: unknown): Promise<Response> {
  return fetch(`${h.url}/templates/${key}`, { method: 'PUT', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) })
}

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

  test("the stream's parameters: userId, lang, since, device, tz, token, Last-Event-ID, Accept-Language, Herald-Device; its security; HEAD's the same, with no body", () => {
    const get = doc.paths['/connection/{userId}'].get
    const head = doc.paths['/connection/{userId}'].head
    for (const op of [get, head]) {
      const params = op.parameters.map((p: Json) => `${p.in}:${p.name}`).sort()
      expect(params).toEqual([
        'header:accept-language',
        'header:herald-device',
        'header:last-event-id',
        'path:userId',
        'query:device',
        'query:lang',
        'query:since',
        'query:token',
        'query:tz',
      ])
      expect(op.security).toEqual([{ subscriberToken: [] }, { tokenQuery: [] }, { tokenCookie: [] }, {}])
    }
    expect(Object.keys(get.responses['200'].content)).toEqual(['text/event-stream'])
    expect(head.responses['200'].headers).toEqual(get.responses['200'].headers)
    for (const response of Object.values(head.responses as Json)) expect(response.content).toBeUndefined()
    // HEAD takes no stream slot and no reconnect token: it cannot be refused for either.
    expect(Object.keys(head.responses).sort()).toEqual(['200', '400', '401', '403', '431', '500'])
  })

  test('HEAD answers what GET would, refusing the same input, with no body', async () => {
    const ok = await fetch(`${h.url}/connection/head-user?lang=ko&device=phone&tz=Asia/Seoul`, { method: 'HEAD' })
    expect(ok.status).toBe(200)
    expect(ok.headers.get('content-type')).toBe('text/event-stream; charset=utf-8')
    for (const [query, code] of [['device=%20', 'INVALID_DEVICE'], ['tz=%2B09:00', 'INVALID_TIME_ZONE']]) {
      const [head, get] = await Promise.all(['HEAD', 'GET'].map((method) => fetch(`${h.url}/connection/head-user?${query}`, { method })))
      expect([head!.status, get!.status]).toEqual([400, 400])
      expect((await get!.json()).error.code).toBe(code)
      expect(doc.paths['/connection/{userId}'].head.responses['400'].description).toContain(code)
    }
  })

  test('the publish body Herald parses itself is described, and it is what Herald accepts: texts, or a template and its params', async () => {
    const body = doc.paths['/alarms'].post.requestBody.content['application/json'].schema
    expect(body.oneOf.map((one: Json) => one.$ref)).toEqual(['#/components/schemas/PublishBody', '#/components/schemas/FanOutBody'])
    const schema = doc.components.schemas.PublishBody
    expect(Object.keys(schema.properties).sort()).toEqual(['data', 'expiresAt', 'key', 'messages', 'params', 'template', 'ttl', 'userId'])
    expect(schema.required).toEqual(['userId'])
    expect(schema.oneOf.map((alternative: Json) => alternative.required)).toEqual([['messages'], ['template']])
    const published = doc.components.schemas.PublishedAlarm
    // The schema's own examples are valid publishes (the template one once its template exists); a field it does not list is refused.
    const [texts, templated] = schema.examples
    const stored = await h.publish(texts)
    expect(stored.status).toBe(201)
    expect(Object.keys(await stored.json()).sort()).toEqual([...published.required].sort())
    const refused = await h.publish({ ...texts, unknown: 1 })
    expect(refused.status).toBe(400)
    expect((await refused.json()).error.code).toBe('INVALID_BODY')
    expect((await putTemplate(templated.template, doc.components.schemas.TemplateBody.examples[0])).status).toBe(201)
    const rendered = await h.publish({ ...templated, ttl: 60 }) // with an expiry: every documented field
    expect(rendered.status).toBe(201)
    const answer = await rendered.json()
    expect(Object.keys(answer).sort()).toEqual(Object.keys(published.properties).sort())
    expect(answer.template).toBe(templated.template)
    for (const both of [{ ...texts, template: templated.template }, { ...texts, params: {} }])
      expect((await (await h.publish(both)).json()).error.code).toBe('INVALID_BODY')
  })

  test('a fan-out and a batch: the documented bodies are accepted, and answered with exactly the documented fields', async () => {
    const schemas = doc.components.schemas
    const fanOut = schemas.FanOutBody
    expect(Object.keys(fanOut.properties).sort()).toEqual(['data', 'expiresAt', 'key', 'messages', 'params', 'template', 'ttl', 'userIds'])
    expect(fanOut.required).toEqual(['userIds'])
    const fanned = await h.publish(fanOut.examples[0])
    expect(fanned.status).toBe(201)
    const fanAnswer = await fanned.json()
    expect(Object.keys(fanAnswer).sort()).toEqual(['alarms', 'createdAt', 'expiresAt', 'locales'])
    expect(Object.keys(fanAnswer.alarms[0]).sort()).toEqual(Object.keys(schemas.FanOutPublished.properties.alarms.items.properties).sort())
    expect((await h.publish(fanOut.examples[0])).status).toBe(200) // its key: the same fan-out again
    const batchOp = doc.paths['/alarms/batch'].post
    expect(batchOp.requestBody.content['application/json'].schema.$ref).toBe('#/components/schemas/BatchBody')
    const res = await fetch(`${h.url}/alarms/batch`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(schemas.BatchBody.examples[0]) })
    expect(res.status).toBe(201)
    const entry = schemas.BatchPublished.properties.alarms.items
    for (const item of (await res.json()).alarms) {
      expect(Object.keys(item).every((field) => field in entry.properties)).toBe(true)
      for (const field of entry.required) expect(item).toHaveProperty(field)
    }
    const codeOf = async (response: Response) => (await response.json()).error.code
    const listed = (status: number): string[] => batchOp.responses[status].content['application/json'].schema.allOf[1].properties.error.properties.code.enum
    const post = (body: unknown) => fetch(`${h.url}/alarms/batch`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) })
    expect(listed(400)).toContain(await codeOf(await post({ alarms: [{ userId: '', messages: { ko: 'x' } }] })))
    expect(listed(400)).toContain(await codeOf(await post({ alarms: [{ userId: 'u', template: 'no.such.key' }] })))
    expect(listed(409)).toContain(await codeOf(await post({ alarms: [{ ...schemas.BatchBody.examples[0].alarms[0], data: { other: 1 } }] })))
  })
})

describe('the template catalogue as documented', () => {
  const schema = (name: string): Json => doc.components.schemas[name]
  const props = (json: Json) => Object.keys(json.properties).sort()

  test('PUT, GET, the list and the coverage answer exactly the documented fields', async () => {
    const example = schema('TemplateBody').examples[0]
    const created = await putTemplate('catalogue.doc', example)
    expect(created.status).toBe(201)
    expect(Object.keys(await created.json()).sort()).toEqual(props(schema('TemplateSaved')))
    const same = await putTemplate('catalogue.doc', example)
    expect(same.status).toBe(200)
    expect((await same.json()).version).toBe(1)
    const template = await (await fetch(`${h.url}/templates/catalogue.doc`)).json()
    expect(Object.keys(template).sort()).toEqual(props(schema('Template')))
    expect(Object.keys(template.arguments).every((name) => schema('TemplateArguments').additionalProperties.enum.includes(template.arguments[name]))).toBe(true)
    const page = await (await fetch(`${h.url}/templates?limit=1`)).json()
    expect(Object.keys(page).sort()).toEqual(props(schema('TemplatePage')))
    expect(Object.keys(page.templates[0]).sort()).toEqual(props(schema('TemplateSummary')))
    const coverage = await (await fetch(`${h.url}/templates/coverage?after=catalogue&limit=1`)).json()
    expect(Object.keys(coverage).sort()).toEqual(props(schema('Coverage')))
    expect(Object.keys(coverage.templates[0]).sort()).toEqual(props(schema('Coverage').properties.templates.items))
    const params = (path: string) => doc.paths[path].get.parameters.map((p: Json) => `${p.in}:${p.name}`).sort()
    expect(params('/templates')).toEqual(['query:after', 'query:limit'])
    expect(params('/templates/coverage')).toEqual(['query:after', 'query:limit'])
    expect(params('/templates/{key}')).toEqual(['path:key'])
  })

  test("the codes the catalogue's routes answer with are listed under them", async () => {
    const codeOf = async (res: Promise<Response>) => (await (await res).json()).error.code
    const listed = (method: string, path: string, status: number): string[] =>
      doc.paths[path][method].responses[status].content['application/json'].schema.allOf[1].properties.error.properties.code.enum
    expect(listed('get', '/templates/{key}', 404)).toContain(await codeOf(fetch(`${h.url}/templates/no.such.key`)))
    expect(listed('put', '/templates/{key}', 400)).toContain(await codeOf(putTemplate('bad%20key', { messages: { en: 'x' } })))
    expect(listed('put', '/templates/{key}', 400)).toContain(await codeOf(putTemplate('broken', { messages: { en: '{n, plural, one {#}}' } })))
    expect(listed('put', '/templates/{key}', 409)).toContain(await codeOf(putTemplate('catalogue.doc', { messages: { en: '{other}' } })))
    expect(listed('get', '/templates', 400)).toContain(await codeOf(fetch(`${h.url}/templates?limit=0`)))
    expect(listed('post', '/alarms', 400)).toContain(await codeOf(h.publish({ userId: 'u', template: 'no.such.key' })))
    expect(listed('post', '/alarms', 400)).toContain(await codeOf(h.publish({ userId: 'u', template: 'catalogue.doc', params: { seats: 'three' } })))
  })
})

describe('the event stream as documented', () => {
  const events = () => doc.components.schemas.StreamEvent.oneOf as Json[]
  const resolve = (schema: Json): Json => (schema.$ref ? doc.components.schemas[schema.$ref.split('/').at(-1)] : schema)
  const eventOf = (name: string) => events().find((e) => e.title === name)!
  /** The shapes an event's data may take (a oneOf's alternatives, else one): the fields it must and may have. */
  const shapesOf = (name: string) => {
    const schema = resolve(eventOf(name).properties.data.contentSchema)
    return ((schema.oneOf as Json[] | undefined) ?? [schema]).map(resolve).map((shape) => ({
      required: [...(shape.required as string[])].sort(),
      allowed: Object.keys(shape.properties).sort(),
    }))
  }
  /** The event's fields are one documented shape's: every required one present, none undocumented. */
  const expectDocumented = (name: string, data: Json) => {
    const fields = Object.keys(data).sort()
    const fits = shapesOf(name).some(({ required, allowed }) => required.every((f) => fields.includes(f)) && fields.every((f) => allowed.includes(f)))
    expect({ name, fields, fits }).toEqual({ name, fields, fits: true })
  }
  /** The next event, which must be `name`; its data, and its id when it has one. */
  const next = async (sub: Subscription, name: string) => {
    const event = await sub.nextEvent()
    expect(event?.event).toBe(name)
    if (eventOf(name).properties.id) expect(event!.id).toMatch(new RegExp(eventOf(name).properties.id.pattern))
    else expect(event!.id).toBeUndefined()
    const data = JSON.parse(event!.data!)
    expectDocumented(name, data)
    return { ...event!, data }
  }
  const mark = (userId: string, kind: string, body: Json) =>
    fetch(`${h.url}/users/${userId}/alarms/${kind}`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) })

  test('lists ready, alarm, state, deleted, badge, superseded and expired, and a real stream sends exactly the documented fields', async () => {
    expect(events().map((e) => e.title)).toEqual(Object.keys(SSE_EVENTS))
    expect(Object.keys(SSE_EVENTS)).toEqual(['ready', 'alarm', 'state', 'deleted', 'badge', 'superseded', 'expired'])
    const older = await h.subscribe('documented', { lang: 'ko' })
    const readyData = (await next(older, 'ready')).data
    expect(Object.keys(readyData).sort()).toEqual(shapesOf('ready')[0]!.allowed)

    // A text alarm carries the required fields alone; the badge follows it.
    await h.publish({ userId: 'documented', messages: { ko: '안녕' }, data: { n: 1 } })
    const alarm = (await next(older, 'alarm')).data
    expect(Object.keys(alarm).sort()).toEqual(shapesOf('alarm')[0]!.required)
    expect((await next(older, 'badge')).data).toEqual({ unread: 1, unseen: 1 })

    // A template alarm carries `template`; one whose stored params no longer fit, `renderError` too.
    expect((await putTemplate('documented.hello', { messages: { ko: '{name}님 안녕하세요' } })).status).toBe(201)
    await h.publish({ userId: 'documented', template: 'documented.hello', params: { name: '민아' } })
    expect((await next(older, 'alarm')).data).toMatchObject({ message: '민아님 안녕하세요', template: 'documented.hello' })
    await next(older, 'badge')
    await h.db.sql`insert into alarms (user_id, template_key, params, expires_at) values ('documented', 'documented.hello', '{}', now() + interval '1 hour')`
    const broken = (await next(older, 'alarm')).data // every field an alarm may carry
    expect(Object.keys(broken).sort()).toEqual(shapesOf('alarm')[0]!.allowed)
    expect(broken.renderError).toBe('INVALID_PARAMS')
    await next(older, 'badge')

    // A mark by ids, then one by upTo: a state event each (its id the seq), then the badge.
    const read = await mark('documented', 'read', { ids: [alarm.id] })
    expect(read.status).toBe(200)
    expect(await read.json()).toEqual({ changed: 1, badge: { unread: 2, unseen: 3 } })
    const byIds = await next(older, 'state')
    expect(byIds.data).toEqual({ seq: Number(byIds.id), change: 'read', ids: [alarm.id] })
    expect((await next(older, 'badge')).data).toEqual({ unread: 2, unseen: 3 })
    expect((await mark('documented', 'unread', { upTo: alarm.seq })).status).toBe(200)
    const upTo = await next(older, 'state')
    expect(upTo.data).toEqual({ seq: Number(upTo.id), change: 'unread', upTo: alarm.seq })
    expect((await next(older, 'badge')).data).toEqual({ unread: 3, unseen: 3 })

    // An alarm that expires carries `expiresAt`; deleting it is `deleted` naming it (its id the
    // deletion's own place in the log), then the badge.
    const expiring = await (await h.publish({ userId: 'documented', messages: { ko: '곧' }, ttl: 600 })).json()
    expect((await next(older, 'alarm')).data).toMatchObject({ id: expiring.id, expiresAt: expiring.expiresAt })
    await next(older, 'badge')
    const removed = await fetch(`${h.url}/users/documented/alarms/${expiring.id}`, { method: 'DELETE' })
    expect(Object.keys(await removed.json()).sort()).toEqual(doc.components.schemas.Deleted.required.sort())
    const deleted = await next(older, 'deleted')
    expect(deleted.data).toEqual({ id: expiring.id, seq: expiring.seq })
    expect(Number(deleted.id)).toBeGreaterThan(expiring.seq)
    expect((await next(older, 'badge')).data).toEqual({ unread: 3, unseen: 3 })

    const newer = await h.subscribe('documented', { lang: 'ko' })
    await ready(newer)
    const superseded = await older.nextEvent()
    expect(superseded?.event).toBe('superseded')
    expect(eventOf('superseded').properties.data.contentSchema.properties.reason.enum).toContain(JSON.parse(superseded!.data!).reason)
    expectDocumented('superseded', JSON.parse(superseded!.data!))
    expect(superseded?.retry).toBeGreaterThan(0)
    await newer.cancel()
  })
})

describe('the inbox and presence as documented', () => {
  const schema = (name: string): Json => doc.components.schemas[name]
  const props = (json: Json) => Object.keys(json.properties).sort()
  const post = (path: string, body: unknown) =>
    fetch(`${h.url}${path}`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) })

  test('a history page and its items carry exactly the documented fields', async () => {
    await h.publish({ userId: 'inbox-doc', messages: { en: 'one' } })
    await h.publish({ userId: 'inbox-doc', messages: { en: 'two' } })
    const res = await fetch(`${h.url}/users/inbox-doc/alarms?limit=1&lang=en&tz=Asia/Seoul`)
    expect(res.status).toBe(200)
    expect(res.headers.get('content-language')).toBe('en')
    const page = await res.json()
    expect(Object.keys(page).sort()).toEqual(props(schema('HistoryPage')))
    expect(Object.keys(page.items[0]).sort()).toEqual(schema('HistoryItem').required.sort())
    expect(Object.keys(page.items[0]).every((field) => field in schema('HistoryItem').properties)).toBe(true)
    expect(typeof page.next).toBe('number')
    expect(Object.keys(page.badge).sort()).toEqual(props(schema('Badge')))
    const params = doc.paths['/users/{userId}/alarms'].get.parameters.map((p: Json) => `${p.in}:${p.name}`).sort()
    expect(params).toEqual(['header:accept-language', 'path:userId', 'query:before', 'query:lang', 'query:limit', 'query:status', 'query:token', 'query:tz'])
    // What the document lists is what Herald takes: one more parameter is refused.
    expect((await (await fetch(`${h.url}/users/inbox-doc/alarms?unknown=1`)).json()).error.code).toBe('INVALID_QUERY')
  })

  test('every mark takes the documented bodies, answers the documented result, and refuses anything else', async () => {
    const body = schema('MarkBody')
    expect(body.oneOf.map((shape: Json) => props(shape))).toEqual([['ids'], ['upTo'], ['all']])
    const marks = Object.keys(doc.paths).filter((path) => path.startsWith('/users/{userId}/alarms/') && path !== '/users/{userId}/alarms/{id}').sort()
    expect(marks).toEqual(['archive', 'read', 'seen', 'unarchive', 'unread'].map((kind) => `/users/{userId}/alarms/${kind}`))
    const { id } = await (await h.publish({ userId: 'marks-doc', messages: { en: 'x' } })).json()
    for (const example of [{ ids: [id] }, ...body.examples.filter((e: Json) => !('ids' in e))]) {
      const res = await post('/users/marks-doc/alarms/read', example)
      expect(res.status).toBe(200)
      expect(Object.keys(await res.json()).sort()).toEqual(props(schema('MarkResult')))
    }
    for (const refused of [{ ids: [] }, { upTo: -1 }, { all: false }, { ids: [id], all: true }, {}])
      expect((await (await post('/users/marks-doc/alarms/read', refused)).json()).error.code).toBe('INVALID_BODY')
    const missing = await post('/users/marks-doc/alarms/read', { ids: [id + 1000] })
    expect(missing.status).toBe(404)
    expect(doc.paths['/users/{userId}/alarms/read'].post.responses['404'].content['application/json'].schema.allOf[1].properties.error.properties.code.enum).toEqual([
      (await missing.json()).error.code,
    ])
  })

  test('presence lists the open devices with the documented fields', async () => {
    const sub = await h.subscribe('presence-doc', { headers: { 'herald-device': 'phone' } })
    await ready(sub)
    // Presence is written a moment after `ready`, in a batch: asked until it shows (bounded).
    const deadline = performance.now() + 5000
    let presence: Json
    for (;;) {
      const res = await fetch(`${h.url}/users/presence-doc/presence`)
      expect(res.status).toBe(200)
      presence = await res.json()
      if (presence.devices.length > 0 || performance.now() > deadline) break
      await Bun.sleep(10)
    }
    expect(Object.keys(presence).sort()).toEqual(props(schema('Presence')))
    expect(presence.devices.map((d: Json) => Object.keys(d).sort())).toEqual([props(schema('Presence').properties.devices.items)])
    expect(presence.devices[0].device).toBe('phone')
    await sub.cancel()
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
