// GET /docs in a headless Chromium with every request off this Herald refused, as on a machine
// with no network: Swagger UI draws every operation of the document, and asks nothing of anyone else.
import { afterAll, beforeAll, expect, test } from 'bun:test'
import type { Browser } from 'playwright-core'
import { testHerald, type TestHerald } from '../helpers/herald'
import { launchBrowser } from '../helpers/browser'

let browser: Browser
let herald: TestHerald
beforeAll(async () => {
  browser = await launchBrowser()
  herald = await testHerald('docs_page')
})
afterAll(async () => {
  await browser?.close()
  await herald?.[Symbol.asyncDispose]()
})

test('the docs page works offline: every operation drawn, nothing fetched from elsewhere', async () => {
  const context = await browser.newContext()
  const elsewhere: string[] = []
  const origin = new URL(herald.url).origin
  await context.route('**/*', (route) => {
    const url = route.request().url()
    if (url.startsWith(origin + '/') || url.startsWith('data:')) return route.continue()
    elsewhere.push(url)
    return route.abort('internetdisconnected')
  })
  const page = await context.newPage()
  const errors: string[] = []
  page.on('pageerror', (error) => errors.push(String(error)))
  page.on('console', (message) => message.type() === 'error' && errors.push(message.text()))
  await page.goto(`${herald.url}/docs`)
  const openapi = await (await fetch(`${herald.url}/openapi.json`)).json()
  const count = Object.values(openapi.paths as Record<string, object>).reduce((n, item) => n + Object.keys(item).length, 0)
  await page.waitForFunction((n) => document.querySelectorAll('.opblock').length === n, count, { timeout: 15_000 })
  expect(await page.locator('.opblock-summary-path').allTextContents()).toContain('/connection/{userId}')
  expect(await page.locator('.info .title').first().textContent()).toContain('Herald')
  expect(elsewhere).toEqual([])
  expect(errors).toEqual([])
  await context.close()
}, 30_000)
