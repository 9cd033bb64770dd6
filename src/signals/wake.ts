// Wake-ups through PostgreSQL: "user U has new alarms". One LISTEN connection per process; the
// alarm trigger NOTIFYs the user on commit. postgres.js reconnects the LISTEN by itself, and a
// reconnect is when notifications may have been missed: catch up then, and on a slow timer.
import type { Channels } from '../store/channels'
import type { Local } from './local'

export type PgWakes = {
  /** Resolves once wake-ups flow. */
  start(): Promise<void>
  /** Finds streams that missed a wake-up and wakes them: one query per chunk of users, not one per stream. */
  catchUp(): Promise<number>
  stop(): Promise<void>
}

export type PgWakesOptions = {
  channel: string
  /** How often the safety net looks for missed wake-ups; 0 turns it off. */
  safetyPollMs: number
  onError(error: unknown): void
}

const CATCH_UP_CHUNK = 5000

export function createPgWakes(channels: Channels, local: Pick<Local, 'wake' | 'cursors'>, options: PgWakesOptions): PgWakes {
  let unlisten: (() => Promise<void>) | undefined
  let timer: ReturnType<typeof setInterval> | undefined

  async function catchUp(): Promise<number> {
    const cursors = local.cursors()
    const users = [...cursors.keys()]
    const behind: string[] = []
    for (let i = 0; i < users.length; i += CATCH_UP_CHUNK) {
      const latest = await channels.latestSeqs(users.slice(i, i + CATCH_UP_CHUNK))
      for (const [userId, seq] of latest) if (seq > (cursors.get(userId) ?? Infinity)) behind.push(userId)
    }
    local.wake(behind)
    return behind.length
  }

  const safeCatchUp = () => void catchUp().catch(options.onError)

  return {
    async start() {
      unlisten = await channels.listen(options.channel, (userId) => local.wake([userId]), safeCatchUp)
      if (options.safetyPollMs > 0) {
        timer = setInterval(safeCatchUp, options.safetyPollMs)
        timer.unref?.()
      }
    },
    catchUp,
    async stop() {
      if (timer) clearInterval(timer)
      await unlisten?.().catch(() => {})
    },
  }
}
