// A request no route takes: 405 with `Allow` when the path exists with another method, else 404.
// The table is derived from the routes Elysia has, so it cannot drift from them.
//
// On a socket, Bun's router matches the request target as sent, while request.url is the URL
// parser's rewrite of it (`.`/`..`/`%2e` segments resolved, `\` read as `/`, `#` ending the path).
// So every method a route path lacks is a route of its own that answers 405: Bun's router then
// takes every request whose path is spelled as a route's, and what it leaves over (a stray) is a
// path no route has as sent, a 404 whatever request.url says. A 405 route checks, too, that
// request.url still names the path it matched (`PUT /connection/%2e%2e` matches, with `..`).
import { Errors, type HeraldError } from '../errors'

type Route = { method: string; path: string }

/** What Bun's router takes per path (HEAD comes free with GET). */
const METHODS = ['GET', 'HEAD', 'POST', 'PUT', 'PATCH', 'DELETE', 'OPTIONS']

/** `/connection/:userId` → /^\/connection\/[^/]+$/; `*` matches the rest. */
function pattern(path: string): RegExp {
  const source = path
    .split('/')
    .map((part) => (part.startsWith(':') ? '[^/]+' : part === '*' ? '.*' : part.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')))
    .join('/')
  return new RegExp(`^${source}$`)
}

/**
 * Whether request.url's path is still the one Bun's router matched `path` against: the same
 * segments, each parameter the value the router read (`/connection/%2e%2e` routes with `..`, and
 * request.url makes it `/`). Under app.handle there is no router reading to compare with.
 */
function asRouted(path: string, request: Request): boolean {
  const routed = (request as Request & { params?: Record<string, string> }).params
  const expected = path.split('/')
  const actual = new URL(request.url).pathname.split('/')
  if (expected.length !== actual.length) return false
  return expected.every((part, i) =>
    part.startsWith(':') ? routed === undefined || decoded(actual[i]!) === routed[part.slice(1)] : part === actual[i],
  )
}

function decoded(segment: string): string | undefined {
  try {
    return decodeURIComponent(segment)
  } catch {
    return undefined
  }
}

type Entry = { path: string; pattern: RegExp; registered: Set<string>; allowed: string[] }

export type NotAllowed = {
  /** The answer to a request that reached no handler of its method: 405 with `Allow`, or 404. */
  answer(request: Request): HeraldError
  /** The answer to a stray, which Bun's router matched nowhere: always a 404. */
  stray(request: Request): HeraldError
  /**
   * Registers, for each route path, every method it lacks, as a route whose handler throws what
   * `refuse` answers. Call it once every route is in: the table is fixed then.
   */
  refuseOtherMethods(register: (method: string, path: string, refuse: (request: Request) => HeraldError) => void): void
  /**
   * Whether (method, path) of the route table is one refuseOtherMethods registered: a 405, not an
   * operation (the API document leaves these out).
   */
  isRefusal(method: string, path: string): boolean
}

export function createNotAllowed(routes: () => readonly Route[]): NotAllowed {
  let table: Entry[] | undefined
  const refusals = new Set<string>()

  function build(): Entry[] {
    const byPath = new Map<string, Set<string>>()
    for (const { method, path } of routes()) byPath.set(path, (byPath.get(path) ?? new Set()).add(method))
    // Static paths first: `/templates/coverage` is found before `/templates/:key`, which fits it too.
    const paths = [...byPath].sort(([a], [b]) => Number(a.includes(':')) - Number(b.includes(':')))
    return paths.map(([path, registered]) => ({
      path,
      pattern: pattern(path),
      registered,
      allowed: [...registered].filter((method) => method !== 'OPTIONS' && method !== 'HEAD'),
    }))
  }

  function find(request: Request) {
    const path = new URL(request.url).pathname
    table ??= build() // every route is registered by the first request
    return { path, entry: table.find((route) => route.pattern.test(path)) }
  }

  /** The answer to a request that reached no handler of its method: 405 with `Allow`, or 404. */
  function answer(request: Request): HeraldError {
    const { path, entry } = find(request)
    return answerFor(entry, path, request)
  }

  function answerFor(entry: Entry | undefined, path: string, request: Request): HeraldError {
    if (!entry) return Errors.notFound(path)
    // The route takes this very method, yet no handler of it took the request: its path was
    // spelled otherwise and request.url shows it rewritten. "GET is not allowed; use GET" would
    // be a lie.
    if (entry.allowed.includes(request.method === 'HEAD' ? 'GET' : request.method)) return Errors.pathNotCanonical()
    return Errors.methodNotAllowed(request.method, path, entry.allowed)
  }

  return {
    answer,
    stray(request) {
      const { path, entry } = find(request)
      return entry ? Errors.pathNotCanonical() : Errors.notFound(path)
    },
    refuseOtherMethods(register) {
      table = build()
      for (const entry of table) {
        const { path, registered } = entry
        // Bun matched `path` against the target as sent; a 405 is only true of that very path
        // (`/templates/coverage`, not the `/templates/:key` whose pattern also fits it).
        const refuse = (request: Request) =>
          asRouted(path, request) ? answerFor(entry, new URL(request.url).pathname, request) : Errors.pathNotCanonical()
        for (const method of METHODS)
          if (!registered.has(method) && !(method === 'HEAD' && registered.has('GET'))) {
            refusals.add(`${method} ${path}`)
            register(method, path, refuse)
          }
      }
    },
    isRefusal: (method, path) => refusals.has(`${method} ${path}`),
  }
}
