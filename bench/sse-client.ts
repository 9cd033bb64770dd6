// A lean SSE client for the load side: one raw TCP socket per stream (Bun.connect), a hand-rolled
// chunked-encoding decoder and a frame scanner that only looks for what the benchmark needs
// (`ready`, the alarm id, `superseded`, the end). Thousands of these fit in one process; the
// benchmark reports the load processes' CPU so it can be seen they are not the bottleneck.
import type { Socket } from 'bun'

export type StreamEvents = {
  onReady(stream: SseStream): void
  onAlarm(stream: SseStream, alarmId: number): void
  onEnd(stream: SseStream): void
}

export type SseStream = {
  readonly user: string
  /** 0 until the response head arrives. */
  status: number
  ready: boolean
  superseded: boolean
  ended: boolean
  close(): void
}

type State = SseStream & {
  socket?: Socket<State>
  head: string
  /** Bytes left in the current chunk; -1 while reading a chunk-size line. */
  chunkLeft: number
  sizeLine: string
  text: string
  events: StreamEvents
}

const decoder = new TextDecoder('latin1') // ids and field names are ASCII; messages are not read

const handlers = {
  data(socket: Socket<State>, bytes: Buffer): void {
    const state = socket.data
    let chunk = decoder.decode(bytes)
    if (state.status === 0) {
      state.head += chunk
      const end = state.head.indexOf('\r\n\r\n')
      if (end < 0) return
      state.status = Number(state.head.slice(9, 12))
      chunk = state.head.slice(end + 4)
      state.head = ''
      if (state.status !== 200) return void socket.end()
    }
    dechunk(state, chunk)
  },
  close(socket: Socket<State>) {
    finish(socket.data)
  },
  error(socket: Socket<State>) {
    finish(socket.data)
  },
  connectError(socket: Socket<State>) {
    finish(socket.data)
  },
}

function finish(state: State) {
  if (state.ended) return
  state.ended = true
  state.events.onEnd(state)
}

/** Transfer-Encoding: chunked → frame text. */
function dechunk(state: State, input: string) {
  let i = 0
  while (i < input.length) {
    if (state.chunkLeft < 0) {
      const nl = input.indexOf('\n', i)
      if (nl < 0) {
        state.sizeLine += input.slice(i)
        return
      }
      const line = (state.sizeLine + input.slice(i, nl)).trim()
      state.sizeLine = ''
      i = nl + 1
      if (line === '') continue // the CRLF after a chunk's data
      state.chunkLeft = parseInt(line, 16)
      if (state.chunkLeft === 0) return state.socket?.end()
      continue
    }
    const take = Math.min(state.chunkLeft, input.length - i)
    scan(state, input.slice(i, i + take))
    state.chunkLeft -= take
    i += take
    if (state.chunkLeft === 0) state.chunkLeft = -1
  }
}

/** Splits frames on the blank line and reacts to the events the benchmark cares about. */
function scan(state: State, text: string) {
  state.text += text
  let end: number
  while ((end = state.text.indexOf('\n\n')) >= 0) {
    const frame = state.text.slice(0, end)
    state.text = state.text.slice(end + 2)
    if (frame.includes('event: alarm')) {
      const at = frame.indexOf('data: {"id":')
      if (at >= 0) state.events.onAlarm(state, parseInt(frame.slice(at + 12), 10))
    } else if (frame.includes('event: state')) {
      // A change of state counts as the arrival of its alarms' ids, negated: -id is "id's state".
      const at = frame.indexOf('"ids":[')
      if (at >= 0) for (const id of frame.slice(at + 7, frame.indexOf(']', at)).split(',')) state.events.onAlarm(state, -Number(id))
    } else if (frame.includes('event: ready')) {
      state.ready = true
      state.events.onReady(state)
    } else if (frame.includes('event: superseded')) state.superseded = true
  }
}

export function openStream(
  { hostname, port, localAddress, path, user }: { hostname: string; port: number; localAddress?: string; path: string; user: string },
  events: StreamEvents,
): SseStream {
  const state: State = {
    user,
    status: 0,
    ready: false,
    superseded: false,
    ended: false,
    head: '',
    chunkLeft: -1,
    sizeLine: '',
    text: '',
    events,
    close() {
      state.socket?.end()
    },
  }
  // `localAddress` (the source address) is supported by Bun.connect but not yet in its types.
  const options = { hostname, port, localAddress, data: state, socket: handlers }
  Bun.connect<State>(options as unknown as Bun.TCPSocketConnectOptions<State>)
    .then((socket) => {
      state.socket = socket
      socket.write(`GET ${path} HTTP/1.1\r\nHost: ${hostname}:${port}\r\nAccept: text/event-stream\r\n\r\n`)
    })
    .catch(() => finish(state))
  return state
}
