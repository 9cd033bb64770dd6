// Small facts about processes and ports, shared by the cluster supervisor, the embedded PostgreSQL,
// the tests and the benchmark.
import { readdirSync, readFileSync, readlinkSync } from 'node:fs'

export function alive(pid: number): boolean {
  try {
    process.kill(pid, 0)
  } catch (error) {
    // EPERM: it exists, we may just not signal it.
    return (error as NodeJS.ErrnoException).code === 'EPERM'
  }
  // A child that exited but was not reaped yet still answers signal 0.
  try {
    return !/^\S+ \(.*\) Z/.test(readFileSync(`/proc/${pid}/stat`, 'utf8'))
  } catch {
    return true
  }
}

/** A port free right now on 127.0.0.1 (the OS picks it; nothing holds it after). */
export function freePort(): number {
  const probe = Bun.listen({ hostname: '127.0.0.1', port: 0, socket: { data() {} } })
  const port = probe.port
  probe.stop(true)
  return port
}

/**
 * Nothing listens on `hostname:port`: a bind without reusePort succeeds (and is let go at once).
 * Sockets bound with reusePort, as cluster workers' are, refuse it as well as any other listener;
 * connections in TIME_WAIT do not (Bun sets SO_REUSEADDR).
 */
export function portFree(hostname: string, port: number): boolean {
  try {
    Bun.listen({ hostname, port, socket: { data() {} } }).stop(true)
    return true
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'EADDRINUSE') return false
    throw error
  }
}

export type TcpSocket = { localPort: number; remotePort: number; state: 'LISTEN' | 'ESTABLISHED' | 'OTHER'; inode: string }

/** The machine's TCP sockets, IPv4 and IPv6 (Linux only: /proc; none elsewhere). */
export function tcpSockets(): TcpSocket[] {
  const sockets: TcpSocket[] = []
  for (const table of ['/proc/net/tcp', '/proc/net/tcp6']) {
    let text: string
    try {
      text = readFileSync(table, 'utf8')
    } catch {
      continue
    }
    // sl local_address rem_address st … inode; addresses are hex "ADDR:PORT"; st 0A = LISTEN, 01 = ESTABLISHED.
    for (const line of text.split('\n').slice(1)) {
      const fields = line.trim().split(/\s+/)
      if (fields.length < 10) continue
      const state = fields[3] === '0A' ? 'LISTEN' : fields[3] === '01' ? 'ESTABLISHED' : 'OTHER'
      sockets.push({ localPort: portOf(fields[1]!), remotePort: portOf(fields[2]!), state, inode: fields[9]! })
    }
  }
  return sockets
}

/** The inodes of a process's sockets (empty when it is gone or not ours to read). */
export function socketInodes(pid: number): string[] {
  let fds: string[]
  try {
    fds = readdirSync(`/proc/${pid}/fd`)
  } catch {
    return []
  }
  const inodes: string[] = []
  for (const fd of fds) {
    const inode = readlinkOrNull(`/proc/${pid}/fd/${fd}`)?.match(/^socket:\[(\d+)\]$/)?.[1]
    if (inode) inodes.push(inode)
  }
  return inodes
}

/** The processes with a socket listening on TCP `port` (Linux only; only those we may inspect). */
export function listeners(port: number): number[] {
  const wanted = new Set(tcpSockets().filter((s) => s.state === 'LISTEN' && s.localPort === port).map((s) => s.inode))
  if (wanted.size === 0) return []
  let pids: number[]
  try {
    pids = readdirSync('/proc').filter((name) => /^\d+$/.test(name)).map(Number)
  } catch {
    return []
  }
  return pids.filter((pid) => socketInodes(pid).some((inode) => wanted.has(inode)))
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
