// Stand-ins for what the browser client needs from a browser and a Herald, so its tab relay and its
// reactions to streams ending run under bun:test: BroadcastChannel and Web Locks with the browser's
// semantics (delivery later, in order, to the other channels of one name; one holder per lock, FIFO,
// a waiting request aborted by its signal), and a fetch that answers as a scripted Herald would.
import type { Alarm } from '../../client/herald-client'
import type { Channel, Locks } from '../../client/relay'

export type FakeChannel = Channel & { readonly name: string }

/** One browser profile: the tabs' BroadcastChannels and navigator.locks. */
export function createFakeTabs() {
  const open = new Set<FakeChannel & { closed: boolean }>()
  const held = new Set<string>()
  const waiting = new Map<string, (() => void)[]>()

  function channel(name: string): FakeChannel {
    const self = {
      name,
      closed: false,
      onmessage: null as Channel['onmessage'],
      postMessage(message: unknown) {
        if (self.closed) throw new DOMException('BroadcastChannel is closed', 'InvalidStateError')
        const event = () => ({ data: structuredClone(message) }) as MessageEvent
        for (const other of open)
          if (other !== self && other.name === name) setTimeout(() => !other.closed && other.onmessage?.(event()))
      },
      close() {
        self.closed = true
        open.delete(self)
      },
    }
    open.add(self)
    return self
  }

  function grantNext(name: string) {
    if (held.has(name)) return
    const next = waiting.get(name)?.shift()
    if (next) next()
  }

  const locks: Locks = {
    request(name, { signal }, callback) {
      return new Promise((resolve, reject) => {
        const grant = () => {
          signal.removeEventListener('abort', cancel)
          held.add(name)
          setTimeout(async () => {
            try {
              resolve(await callback())
            } catch (error) {
              reject(error)
            } finally {
              held.delete(name)
              grantNext(name)
            }
          })
        }
        // Only a request still waiting can be aborted; a granted lock is the callback's to end.
        const cancel = () => {
          const queue = waiting.get(name) ?? []
          if (queue.includes(grant)) queue.splice(queue.indexOf(grant), 1)
          reject(new DOMException('The lock request was aborted', 'AbortError'))
        }
        if (signal.aborted) return cancel()
        signal.addEventListener('abort', cancel, { once: true })
        waiting.set(name, [...(waiting.get(name) ?? []), grant])
        grantNext(name)
      })
    },
  }

  return {
    channel,
    locks,
    isHeld: (name: string) => held.has(name),
    /** Makes connect() see these as the browser's (shared tabs); returns the function that undoes it. */
    install(): () => void {
      const original = globalThis.BroadcastChannel
      globalThis.BroadcastChannel = function (name: string) {
        return channel(name)
      } as unknown as typeof BroadcastChannel
      Object.defineProperty(navigator, 'locks', { value: locks, configurable: true })
      return () => {
        globalThis.BroadcastChannel = original
        delete (navigator as { locks?: unknown }).locks
      }
    },
  }
}

export type FakeStream = {
  url: URL
  headers: Headers
  /** Raw SSE text, as Herald writes it. */
  send(text: string): void
  ready(locale: string, since?: number): void
  alarm(seq: number, locale?: string): void
  superseded(): void
  /** Ends the body, as a server going away does. */
  end(): void
}

type Reply = Response | Error

/**
 * A fetch that plays Herald at one base URL: each request gets the next scripted reply (a Response,
 * or an Error to throw as fetch does on a network failure), else a stream the test writes to.
 */
export function createFakeHerald() {
  const replies: Reply[] = []
  const requests: { url: URL; headers: Headers; method: string }[] = []
  const pending: ((stream: FakeStream) => void)[] = []
  const unclaimed: FakeStream[] = []

  function openStream(url: URL, headers: Headers, signal: AbortSignal | undefined): Response {
    const encoder = new TextEncoder()
    let controller!: ReadableStreamDefaultController<Uint8Array>
    const body = new ReadableStream<Uint8Array>({ start: (c) => void (controller = c) })
    const abort = () => controller.error(new DOMException('The operation was aborted.', 'AbortError'))
    signal?.addEventListener('abort', abort, { once: true })
    const send = (text: string) => {
      try {
        controller.enqueue(encoder.encode(text))
      } catch {
        // Aborted by the client already: nobody reads any more.
      }
    }
    const stream: FakeStream = {
      url,
      headers,
      send,
      ready: (locale, since) => send(`retry: 2000\n\nevent: ready\ndata: ${JSON.stringify({ locale, since })}\n\n`),
      alarm: (seq, locale = 'en') => send(`id: ${seq}\nevent: alarm\ndata: ${JSON.stringify(alarm(seq, locale))}\n\n`),
      superseded: () => send('event: superseded\ndata: {}\n\n'),
      end: () => {
        signal?.removeEventListener('abort', abort)
        controller.close()
      },
    }
    const waiter = pending.shift()
    if (waiter) waiter(stream)
    else unclaimed.push(stream)
    return new Response(body, { headers: { 'content-type': 'text/event-stream' } })
  }

  async function fetch(input: string | URL | Request, init?: RequestInit): Promise<Response> {
    const url = new URL(String(input))
    const headers = new Headers(init?.headers)
    requests.push({ url, headers, method: init?.method ?? 'GET' })
    const reply = replies.shift()
    if (reply instanceof Error) throw reply
    if (reply) return reply
    return openStream(url, headers, init?.signal ?? undefined)
  }

  return {
    requests,
    /** Queues replies for the next requests (after them, streams again). */
    reply(...next: Reply[]) {
      replies.push(...next)
    },
    /** The next stream a client opens (or the oldest one no test has taken yet). */
    nextStream(): Promise<FakeStream> {
      const ready = unclaimed.shift()
      if (ready) return Promise.resolve(ready)
      return new Promise((resolve) => pending.push(resolve))
    },
    /** Makes connect() use this fetch; returns the function that undoes it. */
    install(): () => void {
      const original = globalThis.fetch
      globalThis.fetch = fetch as typeof globalThis.fetch
      return () => {
        globalThis.fetch = original
      }
    },
  }
}

export function alarm(seq: number, locale = 'en'): Alarm {
  return { id: seq, seq, locale, message: `alarm ${seq} (${locale})`, data: {}, createdAt: '2025-01-01T00:00:00.000Z' }
}

/** A Herald error reply, as the server sends one. */
export function errorReply(status: number, code: string, headers: Record<string, string> = {}): Response {
  return Response.json({ error: { code, message: `${code} (test)` } }, { status, headers })
}
