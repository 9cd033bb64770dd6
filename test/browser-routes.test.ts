// The browser side over HTTP: /client.js built from the TypeScript source, its declarations kept
// in step with it, the demo page only when asked for, and the client's SSE parser.
import { afterAll, beforeAll, describe, expect, test } from 'bun:test'
import ts from 'typescript'
import { createParser } from '../client/herald-client'
import { CLIENT_SOURCE, CLIENT_TYPES } from '../src/http/routes/browser'
import { testHerald, type TestHerald } from './helpers/herald'

let plain: TestHerald
let demo: TestHerald
beforeAll(async () => {
  ;[plain, demo] = await Promise.all([testHerald('browser_plain'), testHerald('browser_demo', { demo: true })])
})
afterAll(async () => {
  await Promise.all([plain[Symbol.asyncDispose](), demo[Symbol.asyncDispose]()])
})

describe('GET /client.js', () => {
  test('is the client as a browser ES module, with an ETag and a pointer to its types', async () => {
    const res = await fetch(`${plain.url}/client.js`)
    expect(res.status).toBe(200)
    expect(res.headers.get('content-type')).toBe('text/javascript; charset=utf-8')
    expect(res.headers.get('x-typescript-types')).toBe('/client.d.ts')
    const code = await res.text()
    expect(code).toMatch(/export\s*\{[^}]*\bconnect\b/)
    expect(code).not.toContain(': ConnectOptions') // types stripped
    const again = await fetch(`${plain.url}/client.js`, { headers: { 'if-none-match': res.headers.get('etag')! } })
    expect(again.status).toBe(304)
  })

  test('/client.d.ts serves the declarations', async () => {
    const res = await fetch(`${plain.url}/client.d.ts`)
    expect(res.status).toBe(200)
    expect(await res.text()).toContain('export declare function connect(options: ConnectOptions): Connection')
  })

  test('client/herald-client.d.ts is what tsc makes of the source today (npm run build:client)', () => {
    const config = ts.getParsedCommandLineOfConfigFile(
      new URL('../client/tsconfig.json', import.meta.url).pathname,
      {},
      { ...ts.sys, onUnRecoverableConfigFileDiagnostic: (d) => { throw new Error(String(d.messageText)) } },
    )!
    let emitted: string | undefined
    const program = ts.createProgram([CLIENT_SOURCE], config.options)
    // One .d.ts per client module; only the public one is served, and it must stand alone.
    const result = program.emit(undefined, (name, text) => {
      if (name.endsWith('/herald-client.d.ts')) emitted = text
    })
    expect(emitted).not.toMatch(/^import /m)
    expect(ts.getPreEmitDiagnostics(program).map((d) => ts.flattenDiagnosticMessageText(d.messageText, '\n'))).toEqual([])
    expect(result.emitSkipped).toBe(false)
    expect(emitted).toBe(require('node:fs').readFileSync(CLIENT_TYPES, 'utf8'))
  })
})

describe('the demo page', () => {
  test('is off unless asked for: 404 NOT_FOUND at /, /demo.js and /demo.css', async () => {
    for (const path of ['/', '/demo.js', '/demo.css']) {
      const res = await fetch(plain.url + path)
      expect(res.status).toBe(404)
      expect((await res.json()).error.code).toBe('NOT_FOUND')
    }
  })

  test('is served with its assets, a strict CSP and the languages as inert JSON', async () => {
    await demo.publish({ userId: 'seed', messages: { ko: '가', 'zh-Hant': '甲' } })
    const res = await fetch(`${demo.url}/`)
    expect(res.status).toBe(200)
    expect(res.headers.get('content-type')).toBe('text/html; charset=utf-8')
    expect(res.headers.get('content-security-policy')).toContain("script-src 'self'")
    const html = await res.text()
    const json = html.match(/<script type="application\/json" id="herald-config">(.*?)<\/script>/)![1]!
    expect(JSON.parse(json)).toEqual({
      // The demo's own three, then what the data knows: its seeded templates' languages and the alarm's.
      locales: ['ko', 'en-US', 'ja', 'ar', 'en', 'ru', 'zh-Hant'],
      defaultLocale: 'en',
      auth: false,
      publishAuth: false,
      devToken: false,
    })
    expect((await fetch(`${demo.url}/demo.js`)).headers.get('content-type')).toBe('text/javascript; charset=utf-8')
    expect((await fetch(`${demo.url}/demo.css`)).headers.get('content-type')).toBe('text/css; charset=utf-8')
  })

  test('a wrong method on a browser path is 405 with Allow', async () => {
    const res = await fetch(`${demo.url}/client.js`, { method: 'POST' })
    expect(res.status).toBe(405)
    expect(res.headers.get('allow')).toBe('GET')
  })
})

describe("the client's SSE parser", () => {
  function parse(...chunks: string[]) {
    const events: unknown[] = []
    const feed = createParser((event) => events.push(event))
    for (const chunk of chunks) feed(chunk)
    return events
  }

  test('reads Herald frames split anywhere, comments skipped', () => {
    const wire = 'retry: 2000\n: herald\n\nevent: ready\ndata: {"since":4}\n\n: heartbeat\n\nid: 5\nevent: alarm\ndata: {"seq":5}\n\n'
    const whole = parse(wire)
    expect(whole).toEqual([
      { retry: 2000 },
      { event: 'ready', data: '{"since":4}' },
      { id: '5', event: 'alarm', data: '{"seq":5}' },
    ])
    for (let cut = 1; cut < wire.length; cut++) expect(parse(wire.slice(0, cut), wire.slice(cut))).toEqual(whole)
  })

  test('accepts CRLF, CR and LF line ends (a CRLF split across chunks included), and joins data lines', () => {
    expect(parse('data: a\r\ndata: b\r\n\r\n', 'data: c\rdata: d\r\r', 'data: e\r', '\n\r\n')).toEqual([
      { data: 'a\nb' },
      { data: 'c\nd' },
      { data: 'e' },
    ])
  })

  test('ignores a non-numeric retry and a block with no data', () => {
    expect(parse('retry: soon\nevent: x\n\n')).toEqual([])
  })
})
