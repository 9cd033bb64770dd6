// Server-Sent Events framing per the WHATWG HTML spec, "Interpreting an event stream".
// Pure: strings in, bytes out. Nothing here does I/O.

const encoder = new TextEncoder()
const LINE_BREAK = /\r\n|\r|\n/

export type Frame = {
  id?: string
  event?: string
  data?: string
  retry?: number
}

/** Renders one event. `data` is split on every line break: one `data:` line each, as the spec reads it back. */
export function frame({ id, event, data, retry }: Frame): string {
  let out = ''
  if (retry !== undefined) {
    if (!Number.isInteger(retry) || retry < 0) throw new TypeError(`retry must be a non-negative integer`)
    out += `retry: ${retry}\n`
  }
  // CR or LF in a field would end it early and let the rest start a field of its own (CWE-93).
  if (id !== undefined) out += `id: ${field('id', id)}\n`
  if (event !== undefined) out += `event: ${field('event', event)}\n`
  // JSON (every frame Herald sends) holds no line break: one line, without splitting it.
  if (data !== undefined) {
    if (!LINE_BREAK.test(data)) out += `data: ${data}\n`
    else for (const line of data.split(LINE_BREAK)) out += `data: ${line}\n`
  }
  return out + '\n'
}

/** A comment line: ignored by clients, keeps proxies and idle timers from closing the stream. */
export function comment(text = ''): string {
  return text.split(LINE_BREAK).map((line) => `: ${line}\n`).join('') + '\n'
}

export function encode(text: string): Uint8Array {
  return encoder.encode(text)
}

function field(name: string, value: string): string {
  // The spec also ignores an id holding NUL: refuse it rather than send a field that does nothing.
  if (/[\r\n]/.test(value) || (name === 'id' && value.includes('\0')))
    throw new TypeError(`SSE ${name} must not contain CR, LF${name === 'id' ? ' or NUL' : ''}`)
  return value
}
