// The template catalogue: PUT/GET /templates/:key, GET /templates (a page of keys) and
// GET /templates/coverage (the languages each key lacks). Publish-key auth, like POST /alarms.
import { Elysia } from 'elysia'
import { Errors } from '../../errors'
import { parsePage, parseTemplateBody, pathTemplateKey, readJson } from '../input'
import type { Available } from '../../locale'
import type { Signals } from '../../signals/signals'
import type { TemplateStore } from '../../store/templates'
import type { Catalogue, StoredTemplate } from '../../templates/catalogue'
import { defineTemplate, type Definition } from '../../templates/define'
import { describeArguments, fitsArguments, type Warning } from '../../templates/icu'
import type { Admission } from '../admission'

export type TemplateService = {
  /** PUT /templates/:key without the HTTP: checks, stores, tells every instance. The demo seeds through it. */
  save(key: string, body: { messages: Record<string, string>; description: string | null }): Promise<Saved>
}

export type Saved = { created: boolean; template: StoredTemplate; locales: string[]; warnings: Warning[] }

export type TemplateServiceOptions = {
  store: TemplateStore
  available: Available
  catalogue: Pick<Catalogue, 'forget'>
  signals: Pick<Signals, 'quietCommits' | 'announceTemplate'>
}

export function createTemplateService({ store, available, catalogue, signals }: TemplateServiceOptions): TemplateService {
  return {
    async save(key, { messages, description }) {
      const locales = Object.keys(messages).sort()
      available.check(locales) // before anything is stored
      const definition = defineTemplate(messages)
      // With Redis carrying the signals, the commit skips its NOTIFY and Redis tells every instance.
      const quiet = signals.quietCommits()
      const input = { key, messages, description, arguments: definition.arguments }
      const result = await store.put(input, (stored) => fitsArguments(stored, definition.kinds), { quiet })
      if (result.outcome === 'conflict')
        throw Errors.templateArgumentsChanged(key, describeArguments(result.template.arguments), describeArguments(definition.kinds))
      if (result.outcome !== 'same') {
        catalogue.forget(key) // this instance at once; the others when the signal reaches them
        if (quiet) await signals.announceTemplate(key)
      }
      available.add(locales)
      return { created: result.outcome === 'created', template: result.template, locales, warnings: definition.warnings }
    },
  }
}

export type TemplateRoutesOptions = {
  service: TemplateService
  store: TemplateStore
  available: Available
  admission: Pick<Admission, 'admitPublish'>
}

export function templateRoutes({ service, store, available, admission }: TemplateRoutesOptions) {
  const admit = (request: Request, server: { requestIP(request: Request): { address: string } | null } | null) =>
    admission.admitPublish(request, server?.requestIP(request)?.address)

  return new Elysia({ name: 'templates' })
    .put(
      '/templates/:key',
      async ({ request, server }) => {
        admit(request, server)
        const key = pathTemplateKey(new URL(request.url).pathname, { creating: true })
        const saved = await service.save(key, parseTemplateBody(await readJson(request)))
        const { version, arguments: args } = saved.template
        return Response.json({ key, version, locales: saved.locales, arguments: args, warnings: saved.warnings }, { status: saved.created ? 201 : 200 })
      },
      // The body is read and bounded by readJson, not by Elysia's parser.
      { parse: 'none' },
    )
    .get('/templates/coverage', async ({ request, server }) => {
      admit(request, server)
      const url = new URL(request.url)
      const { templates, more } = await store.list(parsePage(url))
      const wanted = available.list
      return Response.json({
        locales: wanted,
        templates: templates.map((template) => {
          const has = localesOf(template)
          return { key: template.key, locales: has, missing: wanted.filter((locale) => !has.includes(locale)) }
        }),
        next: more ? templates.at(-1)!.key : null,
      })
    })
    .get('/templates/:key', async ({ request, server }) => {
      admit(request, server)
      const key = pathTemplateKey(new URL(request.url).pathname)
      const [template] = await store.load([key])
      if (!template) throw Errors.templateNotFound(key)
      return Response.json({ ...summary(template), messages: template.messages, warnings: warningsOf(template) })
    })
    .get('/templates', async ({ request, server }) => {
      admit(request, server)
      const { templates, more } = await store.list(parsePage(new URL(request.url)))
      return Response.json({ templates: templates.map(summary), next: more ? templates.at(-1)!.key : null })
    })
}

function localesOf(template: StoredTemplate): string[] {
  return Object.keys(template.messages).sort()
}

function summary(template: StoredTemplate) {
  const { key, version, arguments: args, description, createdAt, updatedAt } = template
  return { key, version, locales: localesOf(template), arguments: args, description, createdAt, updatedAt }
}

/** What translators should look at; none for texts written by SQL that no longer parse. */
function warningsOf(template: StoredTemplate): Warning[] {
  let definition: Definition
  try {
    definition = defineTemplate(template.messages)
  } catch {
    return []
  }
  return definition.warnings
}
