// Redis servers a test may stop: its own redis-server on a free port (never the machine's), and a
// TCP proxy in front of one, to cut a single instance off while the others keep their link.
import type { Socket, TCPSocketListener } from 'bun'
import { freePort } from '../../src/cli/process'

export type OwnRedis = {
  url: string
  port: number
  stop(): Promise<void>
  /** Starts it again on the same port, empty (it keeps nothing on disk), as a restarted Redis is. */
  start(): Promise<void>
  [Symbol.asyncDispose](): Promise<void>
}

export async function ownRedis(): Promise<OwnRedis> {
  const port = freePort()
  let proc: ReturnType<typeof Bun.spawn> | undefined
  const own: OwnRedis = {
    url: `redis://127.0.0.1:${port}`,
    port,
    async start() {
      const started = Bun.spawn(
        ['redis-server', '--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no'],
        { stdin: 'ignore', stdout: 'pipe', stderr: 'pipe' },
      )
      proc = started
      await answers(port, started)
    },
    async stop() {
      proc?.kill('SIGKILL')
      await proc?.exited
      proc = undefined
    },
    [Symbol.asyncDispose]: () => own.stop(),
  }
  await own.start()
  return own
}

/** Reads its log until it says it is ready (bounded), or fails with what it printed. */
async function answers(port: number, proc: ReturnType<typeof Bun.spawn<'ignore', 'pipe', 'pipe'>>) {
  const reader = proc.stdout.getReader()
  const decoder = new TextDecoder()
  let out = ''
  const deadline = setTimeout(() => proc.kill('SIGKILL'), 10_000)
  try {
    while (!out.includes('Ready to accept connections')) {
      const { value, done } = await reader.read()
      if (done) throw new Error(`redis-server on ${port} exited: ${out}${await new Response(proc.stderr).text()}`)
      out += decoder.decode(value)
    }
  } finally {
    clearTimeout(deadline)
    reader.releaseLock()
  }
  // Keep draining its log, so a full pipe never blocks it.
  void proc.stdout.pipeTo(new WritableStream())
}

export type Proxy = {
  url: string
  /** Closes every connection and refuses new ones, as a network cut would. */
  cut(): void
  /** Accepts again, and forwards again after a stall. */
  mend(): void
  /** Keeps every connection open but forwards nothing: a network that drops packets silently. */
  stall(): void
  [Symbol.asyncDispose](): Promise<void>
}

type Pipe = { peer?: Socket<Pipe>; pending: Uint8Array[] }

export async function proxyTo(target: number): Promise<Proxy> {
  const port = freePort()
  const open = new Set<Socket<Pipe>>()
  let listener: TCPSocketListener<Pipe> | undefined
  let stalled = false

  function listen() {
    listener = Bun.listen<Pipe>({
      hostname: '127.0.0.1',
      port,
      socket: {
        open(client) {
          client.data = { pending: [] }
          open.add(client)
          Bun.connect<Pipe>({
            hostname: '127.0.0.1',
            port: target,
            socket: {
              open(server) {
                server.data = { peer: client, pending: [] }
                client.data.peer = server
                open.add(server)
                for (const chunk of client.data.pending) server.write(chunk)
              },
              data: (server, chunk) => void (stalled || server.data.peer?.write(chunk)),
              close(server) {
                open.delete(server)
                server.data.peer?.end()
              },
              error: (server) => void server.end(),
            },
          }).catch(() => client.end())
        },
        data(client, chunk) {
          if (stalled) return
          if (client.data.peer) client.data.peer.write(chunk)
          else client.data.pending.push(new Uint8Array(chunk))
        },
        close(client) {
          open.delete(client)
          client.data.peer?.end()
        },
        error: (client) => void client.end(),
      },
    })
  }

  function cut() {
    listener?.stop(true)
    listener = undefined
    for (const socket of open) socket.terminate()
    open.clear()
  }

  listen()
  return {
    url: `redis://127.0.0.1:${port}`,
    cut,
    mend() {
      stalled = false
      if (!listener) listen()
    },
    stall() {
      stalled = true
    },
    [Symbol.asyncDispose]: async () => cut(),
  }
}
