// HTTP on a raw socket, for what fetch would not send: paths with dot segments or backslashes as
// written, bodies cut off or trickled, bodies larger than declared.

export type RawClient = {
  readonly answered: boolean
  /** Writes all of `text` as the socket takes it; gives up as soon as the server has answered. */
  write(text: string): Promise<void>
  end(): void
  /** Everything received, once the connection has closed. */
  closed: Promise<string>
  /** Everything received, once the response's head is in (a stream's body never ends). */
  head: Promise<string>
}

export async function rawClient(url: string): Promise<RawClient> {
  const closed = Promise.withResolvers<string>()
  const head = Promise.withResolvers<string>()
  let received = ''
  let drained = Promise.withResolvers<void>()
  const finish = () => {
    drained.resolve()
    head.resolve(received)
    closed.resolve(received)
  }
  const socket = await Bun.connect({
    hostname: '127.0.0.1',
    port: Number(new URL(url).port),
    socket: {
      data: (_, bytes) => {
        received += bytes.toString()
        if (received.includes('\r\n\r\n')) head.resolve(received)
      },
      drain: () => drained.resolve(),
      close: finish,
      error: finish,
    },
  })
  const answered = () => received.length > 0
  return {
    get answered() {
      return answered()
    },
    async write(text) {
      let rest = Buffer.from(text)
      while (rest.length > 0 && !answered()) {
        drained = Promise.withResolvers()
        rest = rest.subarray(socket.write(rest))
        if (rest.length > 0) await drained.promise
      }
    },
    end: () => socket.end(),
    closed: closed.promise,
    head: head.promise,
  }
}

export type RawResponse = { status: number; headers: Record<string, string>; body: string }

export function parseResponse(raw: string): RawResponse {
  const [head = '', ...body] = raw.split('\r\n\r\n')
  const [status, ...lines] = head.split('\r\n')
  const headers = Object.fromEntries(
    lines.map((line) => [line.slice(0, line.indexOf(':')).toLowerCase(), line.slice(line.indexOf(':') + 1).trim()]),
  )
  return { status: Number(status!.split(' ')[1]), headers, body: body.join('\r\n\r\n') }
}

/**
 * Sends one request as written and returns the response. A stream is not read past its head: the
 * connection is closed as soon as the head is in.
 */
export async function rawRequest(url: string, request: string): Promise<RawResponse> {
  const client = await rawClient(url)
  await client.write(request)
  const head = parseResponse(await client.head)
  if (head.headers['content-type']?.startsWith('text/event-stream')) {
    client.end()
    return head
  }
  return parseResponse(await client.closed)
}
