// GET /openapi.json and GET /docs — the API document and a page that shows it. The page is Swagger
// UI from the swagger-ui-dist package, served by Herald itself (no CDN): it works offline, and it
// loads nothing from anywhere else (its validator badge, which would call validator.swagger.io, is off).
import { Elysia, type AnyElysia } from 'elysia'
import { buildOpenApi } from '../openapi'

const SWAGGER = new URL('../../../node_modules/swagger-ui-dist/', import.meta.url).pathname

const PAGE = `<!doctype html>
<html lang="en">
<head>
  <meta charset="utf-8">
  <meta name="viewport" content="width=device-width, initial-scale=1">
  <title>Herald API</title>
  <link rel="stylesheet" href="/docs/swagger-ui.css">
</head>
<body>
  <div id="swagger-ui"></div>
  <script src="/docs/swagger-ui-bundle.js"></script>
  <script src="/docs/init.js"></script>
</body>
</html>
`

const INIT = `window.ui = SwaggerUIBundle({ url: '/openapi.json', dom_id: '#swagger-ui', deepLinking: true, validatorUrl: null })\n`

// Swagger UI sets styles inline and draws icons as data: images; everything else is this origin.
const PAGE_POLICY = "default-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data:; base-uri 'none'; form-action 'none'"

export type DocsOptions = {
  /** The app whose routes the document describes (every route is in by the first request). */
  app: () => AnyElysia
  /** Which of its routes are 405s for a method the path lacks (not-allowed.ts), left out of the document. */
  isRefusal: (method: string, path: string) => boolean
  version: string
}

export function docsRoutes({ app, isRefusal, version }: DocsOptions) {
  let document: string | undefined
  const headers = (type: string) => ({ 'content-type': type, 'cache-control': 'no-cache', 'x-content-type-options': 'nosniff' })
  return new Elysia({ name: 'docs' })
    .get('/openapi.json', () => new Response((document ??= JSON.stringify(buildOpenApi(app(), { isRefusal, version }))), { headers: headers('application/json') }))
    .get('/docs', () => new Response(PAGE, { headers: { ...headers('text/html; charset=utf-8'), 'content-security-policy': PAGE_POLICY } }))
    .get('/docs/init.js', () => new Response(INIT, { headers: headers('text/javascript; charset=utf-8') }))
    .get('/docs/swagger-ui.css', () => new Response(Bun.file(SWAGGER + 'swagger-ui.css'), { headers: headers('text/css; charset=utf-8') }))
    .get('/docs/swagger-ui-bundle.js', () => new Response(Bun.file(SWAGGER + 'swagger-ui-bundle.js'), { headers: headers('text/javascript; charset=utf-8') }))
}
