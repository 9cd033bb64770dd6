// The browser side: the client library (always: apps may load it from Herald) and the demo page
// (only when `demo` is on: it invites anyone who can reach it to publish alarms, so production
// leaves it off unless HERALD_DEMO=1 says otherwise).
import { Elysia } from 'elysia'
import { statSync } from 'node:fs'
import type { Auth } from '../auth'
import { Errors } from '../../errors'
import type { Available } from '../../locale'

const ROOT = new URL('../../../', import.meta.url).pathname
export const CLIENT_SOURCE = ROOT + 'client/herald-client.ts'
export const CLIENT_TYPES = ROOT + 'client/herald-client.d.ts'
const PUBLIC = ROOT + 'public/'

/** The languages the demo offers even before the data has any. */
const DEMO_LOCALES = ['ko', 'en-US', 'ja']

export type BrowserOptions = {
  demo: boolean
  /** POST /dev/token is on: the demo gets its tokens there when auth is on. */
  devTokens: boolean
  available: Available
  defaultLocale: string
  auth: Pick<Auth, 'subscribers' | 'publishers' | 'mint'>
}

type Built = { mtimeMs: number; code: string; etag: string }
let built: Promise<Built> | undefined

/**
 * /client.js: the TypeScript source, bundled by Bun for browsers once per process (again only if
 * the source changed since, so `npm run dev` serves edits without a restart).
 */
export async function clientModule(): Promise<Built> {
  const mtimeMs = statSync(CLIENT_SOURCE).mtimeMs
  const current = built && (await built.catch(() => undefined))
  if (!current || current.mtimeMs !== mtimeMs) {
    built = (async () => {
      const result = await Bun.build({ entrypoints: [CLIENT_SOURCE], target: 'browser', format: 'esm' })
      if (!result.success) throw new AggregateError(result.logs, 'building the browser client failed')
      const code = await result.outputs[0]!.text()
      return { mtimeMs, code, etag: `"${Bun.hash(code).toString(36)}"` }
    })()
  }
  return built!
}

const NO_CACHE = { 'cache-control': 'no-cache', 'x-content-type-options': 'nosniff' }

export function browserRoutes(options: BrowserOptions) {
  const demoOnly = (path: string) => {
    if (!options.demo) throw Errors.notFound(path)
  }
  return new Elysia({ name: 'browser' })
    .get('/client.js', async ({ request }) => {
      const { code, etag } = await clientModule()
      if (request.headers.get('if-none-match') === etag) return new Response(null, { status: 304, headers: { etag } })
      return new Response(code, {
        headers: {
          'content-type': 'text/javascript; charset=utf-8',
          // Deno and some CDNs follow this to the declarations.
          'x-typescript-types': '/client.d.ts',
          etag,
          ...NO_CACHE,
        },
      })
    })
    .get('/client.d.ts', () => file(CLIENT_TYPES, 'application/typescript; charset=utf-8'))
    .get('/', async () => {
      demoOnly('/')
      const html = await Bun.file(PUBLIC + 'index.html').text()
      return new Response(html.replace('<!-- herald-config -->', configScript(options)), {
        headers: {
          'content-type': 'text/html; charset=utf-8',
          'content-security-policy':
            "default-src 'self'; script-src 'self'; style-src 'self'; connect-src 'self'; img-src 'self' data:; base-uri 'none'; form-action 'self'",
          ...NO_CACHE,
        },
      })
    })
    .get('/demo.css', () => {
      demoOnly('/demo.css')
      return file(PUBLIC + 'demo.css', 'text/css; charset=utf-8')
    })
    .get('/demo.js', () => {
      demoOnly('/demo.js')
      return file(PUBLIC + 'demo.js', 'text/javascript; charset=utf-8')
    })
}

function file(path: string, type: string) {
  return new Response(Bun.file(path), { headers: { 'content-type': type, ...NO_CACHE } })
}

/** What the demo needs to know about this Herald, as inert JSON (never executed). */
function configScript(options: BrowserOptions): string {
  const config = {
    locales: [...new Set([...DEMO_LOCALES, ...options.available.list])],
    defaultLocale: options.defaultLocale,
    auth: options.auth.subscribers,
    publishAuth: options.auth.publishers,
    devToken: options.devTokens && !!options.auth.mint,
  }
  // `<` escaped: no text in the JSON can close the script element.
  const json = JSON.stringify(config).replace(/</g, '\\u003c')
  return `<script type="application/json" id="herald-config">${json}</script>`
}
