// A link to Redis that survives Redis restarts. Bun's client does not subscribe again after it
// reconnects on its own, and its own reconnect hides the gap (no callback fires), so the link
// reconnects itself: on any close it drops both clients, retries with back-off, and once connected
// subscribes anew and reports `up` — the moment to catch up on what the gap may have swallowed.
import { RedisClient } from 'bun'

export type RedisLinkOptions = {
  url: string
  channels: string[]
  onMessage(message: string, channel: string): void
  onUp(): void
  onDown(error: Error): void
  retryMinMs?: number
  retryMaxMs?: number
  /** A silent network (no RST) is noticed by a PING that goes unanswered this long. */
  pingEveryMs?: number
}

export type RedisLink = {
  readonly up: boolean
  /** Rejects at once while down (no offline queue): callers fall back instead of waiting. */
  send(command: string, args: string[]): Promise<unknown>
  /** Resolves after the first attempt, connected or not: Herald starts either way. */
  start(): Promise<void>
  stop(): void
}

const CLIENT_OPTIONS = { autoReconnect: false, enableOfflineQueue: false, connectionTimeout: 2000 }

type Clients = { commands: RedisClient; subscriber: RedisClient }

export function createRedisLink(options: RedisLinkOptions): RedisLink {
  const { retryMinMs = 100, retryMaxMs = 5000, pingEveryMs = 5000 } = options
  let clients: Clients | undefined
  let stopped = false
  let retryMs = retryMinMs
  let retryTimer: ReturnType<typeof setTimeout> | undefined
  let pingTimer: ReturnType<typeof setInterval> | undefined
  let downReported = false

  async function connect(): Promise<void> {
    const next: Clients = {
      commands: new RedisClient(options.url, CLIENT_OPTIONS),
      subscriber: new RedisClient(options.url, CLIENT_OPTIONS),
    }
    try {
      await Promise.all([next.commands.connect(), next.subscriber.connect()])
      await next.subscriber.subscribe(options.channels, options.onMessage)
    } catch (error) {
      close(next)
      throw error
    }
    if (stopped) return close(next)
    next.commands.onclose = next.subscriber.onclose = (error) => lost(next, error)
    clients = next
    retryMs = retryMinMs
    downReported = false
    options.onUp()
  }

  function close({ commands, subscriber }: Clients) {
    commands.onclose = subscriber.onclose = null
    commands.close()
    subscriber.close()
  }

  function lost(which: Clients, error: Error) {
    if (clients !== which) return
    clients = undefined
    close(which)
    report(error)
    retry()
  }

  function report(error: Error) {
    if (downReported || stopped) return
    downReported = true
    options.onDown(error)
  }

  function retry() {
    if (stopped || retryTimer) return
    retryTimer = setTimeout(() => {
      retryTimer = undefined
      connect().catch((error) => {
        report(error)
        retryMs = Math.min(retryMs * 2, retryMaxMs)
        retry()
      })
    }, retryMs)
    retryTimer.unref?.()
  }

  async function ping() {
    const current = clients
    if (!current) return
    const timeout = Bun.sleep(pingEveryMs).then(() => Promise.reject(new Error(`Redis did not answer a PING in ${pingEveryMs} ms`)))
    try {
      await Promise.race([Promise.all([current.commands.ping(), current.subscriber.ping()]), timeout])
    } catch (error) {
      lost(current, error as Error)
    }
  }

  return {
    get up() {
      return clients !== undefined
    },
    send(command, args) {
      if (!clients) return Promise.reject(new Error('Redis is unreachable'))
      return clients.commands.send(command, args)
    },
    async start() {
      try {
        await connect()
      } catch (error) {
        report(error as Error)
        retry()
      }
      pingTimer = setInterval(ping, pingEveryMs)
      pingTimer.unref?.()
    },
    stop() {
      stopped = true
      if (retryTimer) clearTimeout(retryTimer)
      if (pingTimer) clearInterval(pingTimer)
      if (clients) close(clients)
      clients = undefined
    },
  }
}
