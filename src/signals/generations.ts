// Generations across processes and machines. Each stream open takes the user's next number from a
// shared counter (batched: one statement, or one pipelined script call per user, per event-loop
// turn) and announces it; every instance supersedes its own streams of that user that are older.
//
// The number is a hybrid clock: max(last + 1, now in µs). Two backends (PostgreSQL, Redis) can then
// take turns — Redis down, Redis back, Redis restarted empty — and a newer stream still gets a higher
// number, as long as the two servers' clocks agree closer than one user's two opens. It also lets
// Redis forget idle users (the keys expire) without numbers ever going back.
import { createBatcher, type BatchStats } from '../batcher'
import type { Channels } from '../store/channels'
import type { RedisLink } from './redis'
import type { Local, SupersedeReason } from './local'

export type Generations = {
  /** The key's next generation, unique across all instances. */
  next(key: string): Promise<number>
  /**
   * Ends the streams of these keys wherever they are, as a newer stream would, saying why: the
   * counter moves on and the announcement carries the reason (a user's devices past the cap).
   */
  evict(keys: string[], reason: SupersedeReason): Promise<void>
  /** Ends local streams that an announcement missed while disconnected would have ended. */
  catchUp(): Promise<number>
  readonly stats: BatchStats
}

const CATCH_UP_CHUNK = 5000
/** Redis keeps a user's counter this long after its last open; the clock covers the rest. */
const REDIS_TTL_MS = 24 * 3600 * 1000

type Counter = {
  /** Adds each key's opens (key → count) to its counter; answers each key's new top. The announcement carries `reason` when given. */
  bump(counts: Map<string, number>, reason?: SupersedeReason): Promise<Map<string, number>>
  /** The counters of these users, where known. */
  read(users: string[]): Promise<[userId: string, generation: number][]>
}

/** What generations may do to local streams: end the ones older than an announcement. */
type Holders = Pick<Local, 'supersede' | 'keys'>

/** Batches opens per event-loop turn into one bump, and compares local streams with the counter on catch-up. */
function generationsOn(counter: Counter, local: Holders): Generations {
  const stats: BatchStats = { queries: 0, requests: 0 }
  const bumps = createBatcher<string, number>(
    async (users) => {
      const counts = new Map<string, number>()
      for (const user of users) counts.set(user, (counts.get(user) ?? 0) + 1)
      const tops = await counter.bump(counts)
      // A user opened twice in one batch gets consecutive numbers, in submission order.
      const given = new Map<string, number>()
      return users.map((user) => {
        const k = given.get(user) ?? 0
        given.set(user, k + 1)
        return tops.get(user)! - counts.get(user)! + 1 + k
      })
    },
    { maxBatch: 1000, maxInFlight: 2, stats },
  )
  return {
    stats,
    next: (key) => bumps.submit(key),
    async evict(keys, reason) {
      if (keys.length > 0) await counter.bump(new Map(keys.map((key) => [key, 1])), reason)
    },
    async catchUp() {
      const keys = [...local.keys()]
      let ended = 0
      for (let i = 0; i < keys.length; i += CATCH_UP_CHUNK)
        for (const [key, generation] of await counter.read(keys.slice(i, i + CATCH_UP_CHUNK)))
          if (local.supersede(key, generation)) ended++
      return ended
    },
  }
}

/** The counter in `user_generations`, announced with NOTIFY on `channel`. */
export function createPgGenerations(channels: Channels, local: Holders, { channel }: { channel: string }): Generations {
  return generationsOn(
    { bump: (counts, reason) => channels.bumpGenerations(counts, channel, reason), read: (keys) => channels.readGenerations(keys) },
    local,
  )
}

/**
 * Reads an announcement, "<generation> <key>" or "<generation>:<reason> <key>", from either
 * backend; undefined for anything else (a stranger on the channel must not end streams: NaN
 * compares as "newer").
 */
export function announcement(payload: string): [key: string, generation: number, reason: SupersedeReason] | undefined {
  const match = /^(\d{1,16})(?::(too-many-devices))? (.+)$/s.exec(payload)
  return match ? [match[3]!, Number(match[1]), (match[2] as SupersedeReason | undefined) ?? 'newer-connection'] : undefined
}

/** Applies an announcement to the local streams; ignores (and reports) anything malformed. */
export function applyAnnouncement(local: Pick<Local, 'supersede'>, payload: string, onError: (error: unknown) => void) {
  const parsed = announcement(payload)
  if (parsed) local.supersede(...parsed)
  else onError(new Error(`ignored a malformed generation announcement: ${JSON.stringify(payload.slice(0, 100))}`))
}

// KEYS[1] = the key's counter; ARGV = opens in this batch, TTL (ms), channel, key, and what follows the number (':reason' or '').
const BUMP = `
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000000 + tonumber(t[2])
local count = tonumber(ARGV[1])
local top = string.format('%d', math.max(tonumber(redis.call('GET', KEYS[1]) or '0') + count, now + count - 1))
redis.call('SET', KEYS[1], top, 'PX', ARGV[2])
redis.call('PUBLISH', ARGV[3], top .. ARGV[5] .. ' ' .. ARGV[4])
return top`
const BUMP_SHA = new Bun.CryptoHasher('sha1').update(BUMP).digest('hex')

/** The counter in Redis (`<prefix>gen:<user>`), announced with PUBLISH on `channel`. */
export function createRedisGenerations(
  redis: RedisLink,
  local: Holders,
  { prefix, channel }: { prefix: string; channel: string },
): Generations {
  const key = (userId: string) => `${prefix}gen:${userId}`

  async function bump(userId: string, count: number, reason?: SupersedeReason): Promise<number> {
    const args = ['1', key(userId), String(count), String(REDIS_TTL_MS), channel, userId, reason ? `:${reason}` : '']
    try {
      return Number(await redis.send('EVALSHA', [BUMP_SHA, ...args]))
    } catch (error) {
      // A restarted Redis has forgotten the script: send it whole, once; it is cached again.
      if (!String((error as Error).message).includes('NOSCRIPT')) throw error
      return Number(await redis.send('EVAL', [BUMP, ...args]))
    }
  }

  return generationsOn(
    {
      // One call per user, pipelined by the client: a script touches one key, so it works on a
      // Redis Cluster too.
      bump: async (counts, reason) =>
        new Map(await Promise.all([...counts].map(async ([user, n]) => [user, await bump(user, n, reason)] as const))),
      async read(users) {
        const values = (await redis.send('MGET', users.map(key))) as (string | null)[]
        return users.flatMap((user, i) => (values[i] == null ? [] : [[user, Number(values[i])] as [string, number]]))
      },
    },
    local,
  )
}
