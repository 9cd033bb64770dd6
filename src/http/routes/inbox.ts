// The inbox: GET /users/:userId/alarms (history), POST /users/:userId/alarms/{read|unread|seen|
// archive|unarchive} (marks) and DELETE /users/:userId/alarms/:id. The user's own token, or a
// publish key (a server acting for users).
import { Elysia } from 'elysia'
import { parseAcceptLanguage, parseLangParam, streamLanguage, type Available } from '../../locale'
import { NO_METRICS, type Metrics } from '../../metrics'
import { MARKS, type Inbox, type Mark } from '../../store/inbox'
import { alarmJson, textOf } from '../../stream/render'
import type { Catalogue } from '../../templates/catalogue'
import type { Admission } from '../admission'
import { parseHistoryQuery, parseMarkBody, pathAlarmId, usersPathUserId } from '../inbox-input'
import { parseTimeZone, readJson } from '../input'

export type InboxRouteOptions = {
  inbox: Inbox
  available: Available
  defaultLocale: string
  /** Where template alarms show their dates when the request names no `tz`. */
  defaultTimeZone: string
  /** Gives template alarms their current template before they are rendered. */
  templates: Pick<Catalogue, 'resolve'>
  admission: Pick<Admission, 'admitUser'>
  metrics?: Pick<Metrics, 'removed'>
}

/** Mark bodies are small: 1,000 ids fit in 16 KiB. */
const MAX_MARK_BYTES = 16 * 1024

export function inboxRoutes({ inbox, available, defaultLocale, defaultTimeZone, templates, admission, metrics = NO_METRICS }: InboxRouteOptions) {
  const routes = new Elysia({ name: 'inbox' }).get('/users/:userId/alarms', async ({ request }) => {
    const url = new URL(request.url)
    const userId = usersPathUserId(request, url)
    const query = parseHistoryQuery(url.searchParams)
    const lang = url.searchParams.get('lang')
    const requested = lang !== null ? parseLangParam(lang) : parseAcceptLanguage(request.headers.get('accept-language'))
    const timeZone = parseTimeZone(url.searchParams.get('tz'), defaultTimeZone)
    await admission.admitUser(request, url, userId)
    const { locale, preferred } = streamLanguage(requested, available.list, defaultLocale)
    const page = await inbox.history(userId, query)
    await templates.resolve([page.rows])
    const items = page.rows.flatMap((row) => {
      const text = textOf(row, preferred, defaultLocale, timeZone)
      if (!text) return [] // an alarm with no text at all: nothing to list (as the stream skips it)
      const state = `,"readAt":${stamp(row.readAt)},"seenAt":${stamp(row.seenAt)},"archivedAt":${stamp(row.archivedAt)}`
      return [alarmJson(row, text, state)]
    })
    const body = `{"items":[${items.join(',')}],"next":${page.next},"badge":${JSON.stringify(page.badge)}}`
    return new Response(body, { headers: { 'content-type': 'application/json', 'content-language': locale } })
  })
  for (const kind of MARKS) routes.post(`/users/:userId/alarms/${kind}`, ({ request }) => markRoute(request, kind), { parse: 'none' })
  routes.delete('/users/:userId/alarms/:id', async ({ request }) => {
    const url = new URL(request.url)
    const userId = usersPathUserId(request, url)
    const id = pathAlarmId(url)
    await admission.admitUser(request, url, userId)
    const removed = await inbox.remove(userId, id)
    metrics.removed('deleted', 1)
    return Response.json(removed)
  }, { parse: 'none' })
  return routes

  async function markRoute(request: Request, kind: Mark) {
    const url = new URL(request.url)
    const userId = usersPathUserId(request, url)
    await admission.admitUser(request, url, userId)
    const target = parseMarkBody(await readJson(request, { maxBytes: MAX_MARK_BYTES }))
    return Response.json(await inbox.mark(userId, kind, target))
  }
}

function stamp(at: string | null): string {
  return at === null ? 'null' : `"${at}"`
}
