// GET /users/:userId/presence — which devices of the user hold a stream open, on every instance.
import { Elysia } from 'elysia'
import type { Presence } from '../../signals/presence'
import type { Admission } from '../admission'
import { Errors } from '../../errors'
import { usersPathUserId } from '../inbox-input'

export function presenceRoutes({ presence, admission }: { presence: Pick<Presence, 'devices'>; admission: Pick<Admission, 'admitUser'> }) {
  return new Elysia({ name: 'presence' }).get('/users/:userId/presence', async ({ request }) => {
    const url = new URL(request.url)
    const userId = usersPathUserId(request, url)
    for (const name of url.searchParams.keys()) if (name !== 'token') throw Errors.invalidQuery(name, 'is not a known parameter')
    await admission.admitUser(request, url, userId)
    const devices = (await presence.devices(userId)).map(({ device, locale, openedAt }) => ({
      device: device === '' ? null : device,
      locale,
      openedAt: new Date(openedAt).toISOString(),
    }))
    return Response.json({ online: devices.length > 0, devices })
  })
}
