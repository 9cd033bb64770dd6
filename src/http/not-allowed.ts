// A request no route takes: 405 with `Allow` when the path exists with another method, else 404.
// The table is derived from the routes Elysia has, so it cannot drift from them.
import { Errors, type HeraldError } from '../errors'

type Route = { method: string; path: string }

/** `/connection/:userId` → /^\/connection\/[^/]+$/; `*` matches the rest. */
function pattern(path: string): RegExp {
  const source = path
    .split('/')
    .map((part) => (part.startsWith(':') ? '[^/]+' : part === '*' ? '.*' : part.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')))
    .join('/')
  return new RegExp(`^${source}$`)
}

export function createNotAllowed(routes: () => readonly Route[]) {
  let table: { pattern: RegExp; methods: string[] }[] | undefined

  function build() {
    const byPath = new Map<string, string[]>()
    for (const { method, path } of routes()) {
      if (method === 'OPTIONS' || method === 'HEAD') continue
      byPath.set(path, [...new Set([...(byPath.get(path) ?? []), method])])
    }
    return [...byPath].map(([path, methods]) => ({ pattern: pattern(path), methods }))
  }

  return (request: Request): HeraldError => {
    const path = new URL(request.url).pathname
    table ??= build() // every route is registered by the first request
    const methods = table.find((route) => route.pattern.test(path))?.methods
    return methods ? Errors.methodNotAllowed(request.method, path, methods) : Errors.notFound(path)
  }
}
