// Reads an SSE response the way the spec does, block by block, so tests can await the event they
// expect instead of sleeping.

export type SseBlock = {
  raw: string
  id?: string
  event?: string
  data?: string
  retry?: number
  comments: string[]
}

export type SseReader = {
  /** The next block (comment-only blocks included), or undefined when the stream ended. */
  next(): Promise<SseBlock | undefined>
  /** The next block that dispatches an event (has data), skipping comments and retry-only blocks. */
  nextEvent(): Promise<SseBlock | undefined>
  /** Raw text until `count` more blocks arrived. */
  rawBlocks(count: number): Promise<string>
  /** Resolves once the response has ended (everything left is read and dropped). */
  ended(): Promise<SseBlock[]>
  cancel(): Promise<void>
}

export function readSse(response: Response): SseReader {
  if (!response.body) throw new Error('response has no body')
  const reader = response.body.getReader()
  const decoder = new TextDecoder()
  let buffer = ''
  let done = false

  async function nextRaw(): Promise<string | undefined> {
    while (true) {
      const end = buffer.indexOf('\n\n')
      if (end >= 0) {
        const raw = buffer.slice(0, end + 2)
        buffer = buffer.slice(end + 2)
        return raw
      }
      if (done) return undefined
      const chunk = await reader.read()
      if (chunk.done) done = true
      else buffer += decoder.decode(chunk.value, { stream: true })
    }
  }

  async function next(): Promise<SseBlock | undefined> {
    const raw = await nextRaw()
    return raw === undefined ? undefined : parseBlock(raw)
  }

  return {
    next,
    async nextEvent() {
      while (true) {
        const block = await next()
        if (!block || block.data !== undefined) return block
      }
    },
    async rawBlocks(count) {
      let out = ''
      for (let i = 0; i < count; i++) {
        const raw = await nextRaw()
        if (raw === undefined) throw new Error(`stream ended after ${i} of ${count} blocks`)
        out += raw
      }
      return out
    },
    async ended() {
      const rest: SseBlock[] = []
      for (let block = await next(); block; block = await next()) rest.push(block)
      return rest
    },
    async cancel() {
      await reader.cancel().catch(() => {})
    },
  }
}

export function parseBlock(raw: string): SseBlock {
  const block: SseBlock = { raw, comments: [] }
  for (const line of raw.split('\n')) {
    if (line === '') continue
    if (line.startsWith(':')) {
      block.comments.push(line.slice(1).trim())
      continue
    }
    const colon = line.indexOf(':')
    const name = colon < 0 ? line : line.slice(0, colon)
    const value = colon < 0 ? '' : line.slice(colon + 1).replace(/^ /, '')
    if (name === 'data') block.data = block.data === undefined ? value : block.data + '\n' + value
    else if (name === 'id') block.id = value
    else if (name === 'event') block.event = value
    else if (name === 'retry') block.retry = Number(value)
  }
  return block
}
