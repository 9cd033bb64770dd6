// GET /connection/:userId — the seed's path, so the seed's EventSource client works unchanged.
import { Elysia } from 'elysia'
import { pathUserId, resumeCursor, parseUserId } from '../input'
import { parseAcceptLanguage, parseLangParam, streamLanguage } from '../../locale'
import type { Admission } from '../admission'
import { openAlarmStream, type StreamContext } from '../../stream/stream'

const STREAM_HEADERS = {
  'content-type': 'text/event-stream; charset=utf-8',
  // No cache may keep or rewrite an event stream (better-sse's set, which proxies honour).
  'cache-control': 'private, no-cache, no-store, no-transform, must-revalidate, max-age=0',
  // nginx buffers responses unless told not to; a buffered stream delivers nothing.
  'x-accel-buffering': 'no',
}

export function connectionRoutes(ctx: StreamContext, admission: Admission) {
  return new Elysia({ name: 'connection' }).get('/connection/:userId', async ({ request, server }) => {
    const url = new URL(request.url)
    const userId = parseUserId(pathUserId(url.pathname))
    const lang = url.searchParams.get('lang')
    const requested = lang !== null ? parseLangParam(lang) : parseAcceptLanguage(request.headers.get('accept-language'))
    const since = resumeCursor(request.headers.get('last-event-id'), url.searchParams.get('since') ?? undefined)
    const { expiresAt } = await admission.admitStream(request, url, userId)
    const { locale, preferred } = streamLanguage(requested, ctx.available.list, ctx.defaultLocale)
    // Bun's idle timeout would cut a quiet stream; heartbeats are for proxies, not for us.
    server?.timeout(request, 0)
    const body = openAlarmStream(ctx, { userId, locale, preferred, since, expiresAt, requested: requested[0] })
    return new Response(body, { headers: { ...STREAM_HEADERS, 'content-language': locale } })
  })
}
