// GET /connection/:userId — the seed's path, so the seed's EventSource client works unchanged.
import { Elysia } from 'elysia'
import { parseDevice, parseTimeZone, pathUserId, resumeCursor, parseUserId } from '../input'
import { parseAcceptLanguage, parseLangParam, streamLanguage } from '../../locale'
import type { Admission } from '../admission'
import type { Auth } from '../auth'
import { openAlarmStream, type StreamContext } from '../../stream/stream'

const STREAM_HEADERS = {
  'content-type': 'text/event-stream; charset=utf-8',
  // No cache may keep or rewrite an event stream (better-sse's set, which proxies honour).
  'cache-control': 'private, no-cache, no-store, no-transform, must-revalidate, max-age=0',
  // nginx buffers responses unless told not to; a buffered stream delivers nothing.
  'x-accel-buffering': 'no',
}

/** The userId Bun's router read from the request target as sent (absent under app.handle). */
function routedUserId(request: Request): string | undefined {
  return (request as Request & { params?: Record<string, string> }).params?.userId
}

/**
 * What a stream request asks for, checked: every error here is the client's. `defaultTimeZone` is
 * where template alarms show their dates when the stream names no `tz` (HERALD_DEFAULT_TIME_ZONE).
 */
function readStreamRequest(request: Request, defaultTimeZone: string) {
  const url = new URL(request.url)
  const userId = parseUserId(pathUserId(url.pathname, routedUserId(request)))
  const lang = url.searchParams.get('lang')
  const requested = lang !== null ? parseLangParam(lang) : parseAcceptLanguage(request.headers.get('accept-language'))
  const since = resumeCursor(request.headers.get('last-event-id'), url.searchParams.get('since') ?? undefined)
  const device = parseDevice(url.searchParams.get('device') ?? request.headers.get('herald-device'))
  const timeZone = parseTimeZone(url.searchParams.get('tz'), defaultTimeZone)
  return { url, userId, requested, since, device, timeZone }
}

export function connectionRoutes(
  ctx: StreamContext,
  admission: Admission,
  auth: Pick<Auth, 'verifySubscriber'>,
  { defaultTimeZone }: { defaultTimeZone: string },
) {
  return new Elysia({ name: 'connection' })
    .get('/connection/:userId', async ({ request, server }) => {
      const { url, userId, requested, since, device, timeZone } = readStreamRequest(request, defaultTimeZone)
      const { expiresAt } = await admission.admitStream(request, url, userId)
      const { locale, preferred } = streamLanguage(requested, ctx.available.list, ctx.defaultLocale)
      // Bun's idle timeout would cut a quiet stream; heartbeats are for proxies, not for us.
      server?.timeout(request, 0)
      const body = openAlarmStream(ctx, { userId, device, locale, preferred, timeZone, since, expiresAt, requested: requested[0] })
      return new Response(body, { headers: { ...STREAM_HEADERS, 'content-language': locale } })
    })
    // HEAD answers what GET would, without what GET does: Bun would run the GET handler, whose
    // stream supersedes the user's live one. So the request is checked and the token verified, but
    // no stream is opened, and no stream slot or reconnect token is taken.
    .head('/connection/:userId', async ({ request }) => {
      const { url, userId, requested } = readStreamRequest(request, defaultTimeZone)
      await auth.verifySubscriber(request, url, userId)
      const { locale } = streamLanguage(requested, ctx.available.list, ctx.defaultLocale)
      // Chunked, as the stream's GET is: without it Bun would send `content-length: 0`.
      return new Response(null, {
        headers: { ...STREAM_HEADERS, 'content-language': locale, 'transfer-encoding': 'chunked' },
      })
    })
}
