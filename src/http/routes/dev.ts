// POST /dev/token — mints a short-lived subscriber token for the demo, only when HERALD_DEV_TOKENS
// asks for it (never by default, whatever NODE_ENV says) and only where Herald holds the HS256 secret.
import { Elysia } from 'elysia'
import type { Auth } from '../auth'
import { Errors } from '../../errors'
import { parseUserId, readJson } from '../input'

export const DEV_TOKEN_TTL_SECONDS = 900

export function devRoutes(auth: Auth, enabled: boolean) {
  const mint = enabled ? auth.mint : undefined
  return new Elysia({ name: 'dev' }).post(
    '/dev/token',
    async ({ request }) => {
      if (!mint) throw Errors.notFound('/dev/token')
      const body = (await readJson(request)) as { userId?: unknown } | null
      const userId = parseUserId(body?.userId)
      const token = await mint(userId, DEV_TOKEN_TTL_SECONDS)
      return { token, expiresIn: DEV_TOKEN_TTL_SECONDS }
    },
    { parse: 'none' },
  )
}
