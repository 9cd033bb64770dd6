// Wake-ups through PostgreSQL: "these users have something new". One LISTEN connection per process;
// the triggers NOTIFY the users of each statement that wrote to their logs (insert, change of state,
// delete) on commit, as a few payloads of user ids separated by newlines (sql/012). Every process reads every wake-up: a user it holds no
// stream for costs it one map look-up, never a query. postgres.js reconnects the LISTEN by itself,
// and a reconnect is when notifications may have been missed: catch up then, and on a slow timer.
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

/** Below NOTIFY's limit (payloads must be shorter than 8000 bytes), with room to spare. */
export const MAX_WAKE_PAYLOAD_BYTES = 7900

/**
 * The users of a wake-up payload. A user id holds no control character (the alarms table checks),
 * so a newline separates them; a payload of one id is that user (as every trigger sent before sql/012).
 */
export function usersOf(payload: string): string[] {
  return payload.split('\n')
}

/** Wake-up payloads naming these users, each under NOTIFY's limit, in the trigger's format. */
export function wakePayloads(userIds: Iterable<string>): string[] {
  const payloads: string[] = []
  let chunk: string[] = []
  let bytes = 0
  for (const userId of userIds) {
    const size = Buffer.byteLength(userId) + 1
    if (chunk.length > 0 && bytes + size > MAX_WAKE_PAYLOAD_BYTES) {
      payloads.push(chunk.join('\n'))
      chunk = []
      bytes = 0
    }
    chunk.push(userId)
    bytes += size
  }
  if (chunk.length > 0) payloads.push(chunk.join('\n'))
  return payloads
}

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
      unlisten = await channels.listen(options.channel, (payload) => local.wake(usersOf(payload)), safeCatchUp)
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
