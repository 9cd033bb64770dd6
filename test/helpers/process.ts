// A Herald entry (src/cli/main.ts, src/cli/dev.ts) as a real process, as a newcomer runs it, and which
// process holds a connection.
import { readdirSync, readFileSync, readlinkSync } from 'node:fs'
import { alive } from '../../src/cli/process'

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

/**
 * Which of `pids` holds each established TCP connection accepted on `port`, keyed by the client's
 * port (Linux only: /proc). How a test learns which worker of a cluster serves a connection,
 * without the server saying so.
 */
export function connectionOwners(port: number, pids: readonly number[]): Map<number, number> {
  const ownerOf = new Map<string, number>() // socket inode → pid
  for (const pid of pids)
    for (const fd of readdirSync(`/proc/${pid}/fd`)) {
      const inode = readlinkOrNull(`/proc/${pid}/fd/${fd}`)?.match(/^socket:\[(\d+)\]$/)?.[1]
      if (inode) ownerOf.set(inode, pid)
    }
  const owners = new Map<number, number>()
  // sl local_address rem_address st … inode; addresses are hex "ADDR:PORT", st 01 = ESTABLISHED.
  for (const line of readFileSync('/proc/net/tcp', 'utf8').split('\n').slice(1)) {
    const fields = line.trim().split(/\s+/)
    if (fields.length < 10 || fields[3] !== '01') continue
    const pid = ownerOf.get(fields[9]!)
    if (pid !== undefined && portOf(fields[1]!) === port) owners.set(portOf(fields[2]!), pid)
  }
  return owners
}

function portOf(address: string): number {
  return parseInt(address.slice(address.indexOf(':') + 1), 16)
}

/** A descriptor may close between listing and reading it. */
function readlinkOrNull(path: string): string | null {
  try {
    return readlinkSync(path)
  } catch {
    return null
  }
}

export type Watched = {
  proc: ReturnType<typeof Bun.spawn<'ignore', 'pipe', 'pipe'>>
  /** Resolves once `pattern` has appeared `times` times in its output; fails if it exits first or time runs out. */
  waitFor(pattern: RegExp, times?: number, timeoutMs?: number): Promise<RegExpMatchArray[]>
  /**
   * SIGTERM, and its exit code. One that has not exited 10 s later is killed, and so is every
   * worker it started (by pid), so no process outlives a failed test.
   */
  stop(): Promise<number | null>
  output(): string
}

/** `bun src/cli/main.ts` (a single Herald, or a cluster's supervisor) with its stdout and stderr read as they come. */
export function runHerald(env: Record<string, string | undefined>): Watched {
  const proc = Bun.spawn([process.execPath, 'src/cli/main.ts'], {
    cwd: new URL('../..', import.meta.url).pathname,
    env: env as Record<string, string>,
    stdin: 'ignore',
    stdout: 'pipe',
    stderr: 'pipe',
  })
  let out = ''
  const waiters: (() => void)[] = []
  const read = async (stream: ReadableStream<Uint8Array>) => {
    const decoder = new TextDecoder()
    const reader = stream.getReader()
    for (let chunk = await reader.read(); !chunk.done; chunk = await reader.read()) {
      out += decoder.decode(chunk.value)
      for (const wake of waiters.splice(0)) wake()
    }
    for (const wake of waiters.splice(0)) wake()
  }
  void read(proc.stdout)
  void read(proc.stderr)
  async function waitFor(pattern: RegExp, times = 1, timeoutMs = 15_000): Promise<RegExpMatchArray[]> {
    const deadline = performance.now() + timeoutMs
    for (;;) {
      const found = [...out.matchAll(new RegExp(pattern, 'g'))]
      if (found.length >= times) return found
      if (proc.exitCode !== null) throw new Error(`herald exited:\n${out}`)
      if (performance.now() >= deadline) throw new Error(`timed out waiting for ${pattern} ×${times}:\n${out}`)
      let timer: Timer | undefined
      await new Promise<void>((resolve) => {
        waiters.push(resolve)
        timer = setTimeout(resolve, deadline - performance.now())
      })
      clearTimeout(timer)
    }
  }
  async function stop(): Promise<number | null> {
    if (proc.exitCode !== null || proc.signalCode !== null) return proc.exitCode
    proc.kill('SIGTERM')
    const timer = setTimeout(() => {
      for (const [, pid] of out.matchAll(/worker \d+ started \(pid (\d+)\)/g))
        if (alive(Number(pid))) process.kill(Number(pid), 'SIGKILL')
      proc.kill('SIGKILL')
    }, 10_000)
    try {
      return await proc.exited
    } finally {
      clearTimeout(timer)
    }
  }
  return { proc, waitFor, stop, output: () => out }
}
