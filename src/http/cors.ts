// CORS for an allow-list of origins. Credentials (cookies, for EventSource withCredentials) are
// allowed only for listed origins; any other origin gets no CORS headers at all.
import { Elysia } from 'elysia'

const PREFLIGHT = {
  'access-control-allow-methods': 'GET, POST',
  'access-control-allow-headers': 'authorization, content-type, last-event-id, herald-device',
  'access-control-max-age': '600',
}

export function corsRoutes(origins: readonly string[]) {
  const allowed = new Set(origins)
  return new Elysia({ name: 'cors' }).onRequest(({ request, set }) => {
    const origin = request.headers.get('origin')
    if (!origin || !allowed.has(origin)) return
    const headers = {
      'access-control-allow-origin': origin,
      'access-control-allow-credentials': 'true',
      vary: 'Origin',
    }
    if (request.method === 'OPTIONS') return new Response(null, { status: 204, headers: { ...headers, ...PREFLIGHT } })
    Object.assign(set.headers, headers)
  }).as('global')
}
