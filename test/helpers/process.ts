// A Herald entry (src/main.ts, src/dev.ts) as a real process, as a newcomer runs it.

export type Started = {
  proc: ReturnType<typeof Bun.spawn<'ignore', 'pipe', 'pipe'>>
  /** The address it listens on; undefined when it exited first. */
  url: string | undefined
  /** Its stdout up to "listening on" (plus stderr, when it exited first). */
  out: string
  /** All of its stdout, once it has exited. */
  output(): Promise<string>
}

export async function startEntry(entry: string, env: Record<string, string | undefined>): Promise<Started> {
  const proc = Bun.spawn([process.execPath, entry], {
    cwd: new URL('../..', import.meta.url).pathname,
    env: env as Record<string, string>,
    stdin: 'ignore',
    stdout: 'pipe',
    stderr: 'pipe',
  })
  const reader = proc.stdout.getReader()
  const decoder = new TextDecoder()
  let out = ''
  while (!/listening on (\S+)/.test(out)) {
    const { value, done } = await reader.read()
    if (done) {
      out += await new Response(proc.stderr).text()
      return { proc, url: undefined, out, output: async () => out }
    }
    out += decoder.decode(value)
  }
  const head = out
  const rest = (async () => {
    for (let chunk = await reader.read(); !chunk.done; chunk = await reader.read()) out += decoder.decode(chunk.value)
    return out
  })()
  return { proc, url: head.match(/listening on (\S+)/)![1]!, out: head, output: () => rest }
}
