// The demo page and the client library in a headless Chromium (playwright-core; which Chromium:
// test/helpers/browser.ts): what a person sees, what several tabs share, and what survives a language
// switch, a closed tab and a restarted server. Each test has a Herald of its own on a random port,
// with the demo on.
import { afterAll, afterEach, beforeAll, expect, test } from 'bun:test'
import { copyFileSync, existsSync, mkdirSync } from 'node:fs'
import type { Browser, BrowserContext, Page } from 'playwright-core'
import { readConfig } from '../../src/config'
import { startServer, type RunningServer } from '../../src/http/server'
import { quiet, ready, testHerald, until, type TestHerald } from '../helpers/herald'
import { countStreams, demoState, launchBrowser, shownAlarms, waitForAlarmCount, waitForState } from '../helpers/browser'

const ARTIFACTS = new URL('../artifacts/', import.meta.url).pathname
const DOCS = new URL('../../docs/', import.meta.url).pathname

const reservation = {
  ko: '예약에 성공했습니다!',
  'en-US': 'I have successfully made a reservation.',
  ja: '予約に成功しました',
}

let browser: Browser
let context: BrowserContext | undefined
let herald: TestHerald | undefined
const extra: RunningServer[] = []

beforeAll(async () => {
  browser = await launchBrowser()
})
afterAll(async () => {
  await browser?.close()
})
afterEach(async () => {
  await context?.close()
  context = undefined
  for (const server of extra.splice(0)) await server.stop()
  await herald?.[Symbol.asyncDispose]()
  herald = undefined
})

async function setup(name: string) {
  herald = await testHerald(name, { demo: true })
  context = await browser.newContext({ locale: 'en-US', viewport: { width: 900, height: 760 } })
  return { herald, context, streams: countStreams(context) }
}

async function open(ctx: BrowserContext, url: string): Promise<Page> {
  const page = await ctx.newPage()
  const errors: string[] = []
  page.on('pageerror', (error) => errors.push(String(error)))
  await page.goto(url)
  ;(page as Page & { errors: string[] }).errors = errors
  return page
}

async function publish(h: TestHerald, userId: string, messages: Record<string, string>, data: object = {}) {
  const res = await h.publish({ userId, messages, data })
  expect(res.status).toBe(201)
  return (await res.json()) as { seq: number }
}

const seqs = (alarms: { seq: number }[]) => alarms.map((a) => a.seq)
const range = (from: number, to: number) => Array.from({ length: to - from + 1 }, (_, i) => from + i)

test('the demo page shows an alarm in the chosen language, sent from its own form', async () => {
  const { herald: h, context: ctx } = await setup('browser_demo')
  await publish(h, 'seed', reservation) // the data now has ko, en-US and ja
  const page = await open(ctx, `${h.url}/?user=tiaz&lang=ja`)
  await waitForState(page, 'open', { locale: 'ja' })
  expect(await page.locator('#lang').inputValue()).toBe('ja')

  await page.click('#send button[type=submit]')
  await waitForAlarmCount(page, 1)
  const [alarm] = await shownAlarms(page)
  expect(alarm).toEqual({ seq: 1, locale: 'ja', message: reservation.ja })
  await expect(page.locator('#sent').textContent()).resolves.toContain('sent: seq 1')

  // A second one from outside, to make the screenshot worth a look.
  await publish(h, 'tiaz', { ko: '결제가 완료되었습니다.', 'en-US': 'Your payment went through.', ja: 'お支払いが完了しました' })
  await waitForAlarmCount(page, 2)
  expect((await shownAlarms(page))[1]!.message).toBe('お支払いが完了しました')
  mkdirSync(ARTIFACTS, { recursive: true })
  await page.screenshot({ path: ARTIFACTS + 'demo.png', fullPage: true, animations: 'disabled' })
  // The README's copy changes only on request, so a test run leaves the work tree clean.
  if (process.env.HERALD_UPDATE_SCREENSHOT === '1' || !existsSync(DOCS + 'demo.png')) {
    mkdirSync(DOCS, { recursive: true })
    copyFileSync(ARTIFACTS + 'demo.png', DOCS + 'demo.png')
  }
  expect((page as Page & { errors: string[] }).errors).toEqual([])
}, 30_000)

test('the first alarm on a fresh database already comes in the chosen language', async () => {
  const { herald: h, context: ctx } = await setup('browser_fresh')
  const page = await open(ctx, `${h.url}/?user=fresh&lang=ko`)
  await waitForState(page, 'open')
  await publish(h, 'fresh', reservation)
  await waitForAlarmCount(page, 1)
  expect(await shownAlarms(page)).toEqual([{ seq: 1, locale: 'ko', message: reservation.ko }])
}, 30_000)

test('switching language mid-stream loses and repeats nothing', async () => {
  const { herald: h, context: ctx, streams } = await setup('browser_switch')
  await publish(h, 'seed', reservation)
  const page = await open(ctx, `${h.url}/?user=switcher&lang=ko`)
  await waitForState(page, 'open', { locale: 'ko' })
  const numbered = (n: number) => ({ ko: `알람 ${n}`, 'en-US': `alarm ${n}`, ja: `アラーム ${n}` })
  await publish(h, 'switcher', numbered(1))
  await waitForAlarmCount(page, 1)

  // Switch while alarms are being committed: some land before the old stream closes, some
  // between the two streams, some on the new one.
  const during = (async () => {
    for (let n = 2; n <= 7; n++) await publish(h, 'switcher', numbered(n))
  })()
  await page.selectOption('#lang', 'en-US')
  await during
  await waitForState(page, 'open', { locale: 'en-US' })
  await publish(h, 'switcher', numbered(8))
  await waitForAlarmCount(page, 8)

  await page.selectOption('#lang', 'ja')
  await waitForState(page, 'open', { locale: 'ja' })
  await publish(h, 'switcher', numbered(9))
  await waitForAlarmCount(page, 9)

  const alarms = await shownAlarms(page)
  expect(seqs(alarms)).toEqual(range(1, 9)) // each once, in order
  expect(alarms[0]).toMatchObject({ locale: 'ko', message: '알람 1' })
  expect(alarms[7]).toMatchObject({ locale: 'en-US', message: 'alarm 8' })
  expect(alarms[8]).toMatchObject({ locale: 'ja', message: 'アラーム 9' })
  for (const alarm of alarms) expect(alarm.message).toBe(numbered(alarm.seq)[alarm.locale as 'ko'])
  expect(streams.count).toBe(3) // one stream per language, none extra
}, 30_000)

test('two tabs of one user share one server stream, and both show every alarm', async () => {
  const { herald: h, context: ctx, streams } = await setup('browser_tabs')
  const first = await open(ctx, `${h.url}/?user=tabs&lang=en-US`)
  await waitForState(first, 'open', { role: 'leader' })
  const second = await open(ctx, `${h.url}/?user=tabs&lang=en-US`)
  await waitForState(second, 'open', { role: 'follower' })

  for (let n = 1; n <= 3; n++) await publish(h, 'tabs', { 'en-US': `shared ${n}`, ko: `공유 ${n}` })
  await Promise.all([waitForAlarmCount(first, 3), waitForAlarmCount(second, 3)])
  expect(seqs(await shownAlarms(first))).toEqual([1, 2, 3])
  expect(seqs(await shownAlarms(second))).toEqual([1, 2, 3])
  expect((await shownAlarms(second)).map((a) => a.message)).toEqual(['shared 1', 'shared 2', 'shared 3'])

  expect(streams.count).toBe(1)
  expect(h.herald.live.size).toBe(1)

  // A switch in the follower tab switches the one stream, for both tabs.
  await second.selectOption('#lang', 'ko')
  await Promise.all([waitForState(first, 'open', { locale: 'ko' }), waitForState(second, 'open', { locale: 'ko' })])
  await publish(h, 'tabs', { 'en-US': 'shared 4', ko: '공유 4' })
  await Promise.all([waitForAlarmCount(first, 4), waitForAlarmCount(second, 4)])
  expect((await shownAlarms(first))[3]).toMatchObject({ seq: 4, message: '공유 4' })
  expect((await shownAlarms(second))[3]).toMatchObject({ seq: 4, message: '공유 4' })
  expect(await first.locator('#lang').inputValue()).toBe('ko')
  expect(streams.count).toBe(2)
  expect(h.herald.live.size).toBe(1)
}, 30_000)

test('when the leader tab closes, the other takes over the stream and nothing is lost', async () => {
  const { herald: h, context: ctx, streams } = await setup('browser_takeover')
  const leader = await open(ctx, `${h.url}/?user=relay&lang=en-US`)
  await waitForState(leader, 'open', { role: 'leader' })
  const follower = await open(ctx, `${h.url}/?user=relay&lang=en-US`)
  await waitForState(follower, 'open', { role: 'follower' })
  await publish(h, 'relay', { 'en-US': 'before 1' })
  await waitForAlarmCount(follower, 1)

  await leader.close()
  // Committed while no tab holds a stream, or while the new leader connects.
  for (let n = 2; n <= 4; n++) await publish(h, 'relay', { 'en-US': `during ${n}` })
  await waitForState(follower, 'open', { role: 'leader' })
  await publish(h, 'relay', { 'en-US': 'after 5' })
  await waitForAlarmCount(follower, 5)

  const alarms = await shownAlarms(follower)
  expect(seqs(alarms)).toEqual(range(1, 5))
  expect(alarms.map((a) => a.message)).toEqual(['before 1', 'during 2', 'during 3', 'during 4', 'after 5'])
  expect(streams.count).toBe(2)
  await until(() => h.herald.live.size === 1, 'the closed tab’s stream to end on the server')
}, 30_000)

test('a network drop (the server restarted) resumes from the last id without loss', async () => {
  const { herald: h, context: ctx } = await setup('browser_restart')
  const page = await open(ctx, `${h.url}/?user=drop&lang=en-US`)
  await waitForState(page, 'open')
  await publish(h, 'drop', { 'en-US': 'before' })
  await waitForAlarmCount(page, 1)

  // The server goes away at once, connections cut (a crash, a deploy, a network drop)...
  const port = h.server.port!
  h.server.stop(true)
  await waitForState(page, 'reconnecting')
  // ...alarms keep being committed (by another Herald on the same database)...
  const config = { ...readConfig({}), databaseUrl: h.db.url, hostname: '127.0.0.1', demo: true }
  const other = await startServer({ ...config, port: 0 }, { log: quiet, overrides: { safetyPollMs: 0 } })
  extra.push(other)
  for (const text of ['while down 1', 'while down 2']) {
    const res = await fetch(`${other.url}/alarms`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ userId: 'drop', messages: { 'en-US': text } }),
    })
    expect(res.status).toBe(201)
  }
  // ...and it comes back on the same address.
  const restarted = await startServer({ ...config, port }, { log: quiet, overrides: { safetyPollMs: 0 } })
  extra.push(restarted)
  await waitForState(page, 'open', {}, 20_000)
  await waitForAlarmCount(page, 3)
  const res = await fetch(`${restarted.url}/alarms`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ userId: 'drop', messages: { 'en-US': 'after' } }),
  })
  expect(res.status).toBe(201)
  await waitForAlarmCount(page, 4)
  const alarms = await shownAlarms(page)
  expect(seqs(alarms)).toEqual([1, 2, 3, 4])
  expect(alarms.map((a) => a.message)).toEqual(['before', 'while down 1', 'while down 2', 'after'])
}, 40_000)

test('a reload resumes after the last id it saw', async () => {
  const { herald: h, context: ctx } = await setup('browser_reload')
  const page = await open(ctx, `${h.url}/?user=reload&lang=en-US`)
  await waitForState(page, 'open')
  await publish(h, 'reload', { 'en-US': 'seen' })
  await waitForAlarmCount(page, 1)
  await page.goto('about:blank')
  await publish(h, 'reload', { 'en-US': 'missed while away' })
  await page.goto(`${h.url}/?user=reload&lang=en-US`)
  await waitForAlarmCount(page, 1)
  expect(await shownAlarms(page)).toEqual([{ seq: 2, locale: 'en-US', message: 'missed while away' }])
}, 30_000)

test('superseded by a newer stream elsewhere: the tab stops, says so, and does not take it back', async () => {
  const { herald: h, context: ctx, streams } = await setup('browser_superseded')
  const page = await open(ctx, `${h.url}/?user=taken&lang=en-US`)
  await waitForState(page, 'open')
  // A newer stream of this browser's own device (another window of it, a script): the one rule
  // that still ends the page's stream. Other devices never do (the next test).
  const device = await page.evaluate((origin) => localStorage.getItem(`herald:${origin}:device`), new URL(h.url).origin)
  expect(device).toMatch(/^[0-9a-f]{24}$/)
  const elsewhere = await h.subscribe('taken', { lang: 'en-US', headers: { 'herald-device': device! } })
  await ready(elsewhere)
  await waitForState(page, 'superseded')
  await expect(page.locator('#details').textContent()).resolves.toContain('another connection of this browser took over')
  // The newer stream keeps receiving: had the tab reconnected, it would have been superseded.
  await publish(h, 'taken', { 'en-US': 'for the newer stream' })
  const next = await elsewhere.nextEvent()
  expect(next?.event).toBe('alarm')
  expect(streams.count).toBe(1)
  expect((await demoState(page)).state).toBe('superseded')
  await elsewhere.cancel()
}, 30_000)

test("the seed's plain EventSource still works in the browser", async () => {
  const { herald: h, context: ctx } = await setup('browser_plain')
  await publish(h, 'seed', reservation)
  const page = await open(ctx, `${h.url}/health`) // any same-origin page
  // Exactly the seed's client: the stream, a listener, nothing else.
  await page.evaluate(
    () =>
      new Promise<void>((resolve) => {
        const source = new EventSource('/connection/plain?lang=ko')
        const w = window as unknown as { alarm: Promise<{ message: string; lastEventId: string }> }
        w.alarm = new Promise((done) =>
          source.addEventListener('alarm', (event) => {
            source.close()
            done({ message: JSON.parse(event.data).message, lastEventId: event.lastEventId })
          }),
        )
        source.addEventListener('ready', () => resolve())
      }),
  )
  const { seq } = await publish(h, 'plain', reservation)
  expect(await page.evaluate(() => (window as unknown as { alarm: Promise<unknown> }).alarm)).toEqual({
    message: reservation.ko,
    lastEventId: String(seq),
  })
}, 30_000)

test('the inbox: a bell with the unread count in two tabs; reading, mark-all-read, archive, delete and expiry show in both', async () => {
  const { herald: h, context: ctx } = await setup('browser_inbox')
  const first = await open(ctx, `${h.url}/?user=inbox&lang=en-US`)
  await waitForState(first, 'open', { role: 'leader' })
  const second = await open(ctx, `${h.url}/?user=inbox&lang=en-US`)
  await waitForState(second, 'open', { role: 'follower' })
  const badge = (page: Page, unread: number) => page.waitForSelector(`#badge[data-unread="${unread}"]`, { timeout: 10_000 })
  for (let n = 1; n <= 3; n++) await publish(h, 'inbox', { 'en-US': `unread ${n}` })
  await Promise.all([badge(first, 3), badge(second, 3), waitForAlarmCount(second, 3)])
  expect(await second.locator('#alarms li.unread').count()).toBe(3)

  // Click to read, in the follower tab: the leader's stream brings the change back to both.
  await second.click('#alarms li[data-seq="2"] .message')
  await Promise.all([badge(first, 2), badge(second, 2)])
  await first.waitForSelector('#alarms li[data-seq="2"]:not(.unread)')
  expect(await first.locator('#alarms li.unread').count()).toBe(2)

  await first.click('#mark-all')
  await Promise.all([badge(first, 0), badge(second, 0)])
  await second.waitForFunction(() => document.querySelectorAll('#alarms li.unread').length === 0)

  await first.click('#alarms li[data-seq="1"] .archive')
  await second.waitForSelector('#alarms li[data-seq="1"].archived', { state: 'attached' })
  expect(await second.locator('#count').textContent()).toBe('2')

  // Delete in the follower tab: the `deleted` event reaches both tabs, which drop the item.
  await second.click('#alarms li[data-seq="3"] .delete')
  await Promise.all([first, second].map((page) => page.waitForSelector('#alarms li[data-seq="3"]', { state: 'detached' })))
  expect(await first.locator('#count').textContent()).toBe('1')

  // An alarm that expires: shown, then gone from both tabs when it expires, and from the badge.
  const res = await h.publish({ userId: 'inbox', messages: { 'en-US': 'soon gone' }, ttl: 1 })
  const { seq } = (await res.json()) as { seq: number }
  await Promise.all([badge(first, 1), badge(second, 1)])
  await Promise.all([first, second].map((page) => page.waitForSelector(`#alarms li[data-seq="${seq}"]`, { state: 'detached' })))
  await Promise.all([badge(first, 0), badge(second, 0)])
  expect((first as Page & { errors: string[] }).errors).toEqual([])
  expect((second as Page & { errors: string[] }).errors).toEqual([])
}, 30_000)

test('"Load older" pages back through history, in the chosen language, with read state', async () => {
  const { herald: h, context: ctx } = await setup('browser_history')
  for (let n = 1; n <= 12; n++) await publish(h, 'history', { 'en-US': `old ${n}`, ja: `古い ${n}` })
  await h.db.sql`update alarms set read_at = now() where user_id = 'history' and seq <= 6`
  const page = await open(ctx, `${h.url}/?user=history&lang=ja`)
  await waitForState(page, 'open')
  await page.click('#older')
  await waitForAlarmCount(page, 10)
  await page.click('#older')
  await waitForAlarmCount(page, 12)
  const shown = await shownAlarms(page)
  expect(seqs(shown)).toEqual(range(1, 12))
  expect(shown[0]!.message).toBe('古い 1')
  expect(await page.locator('#alarms li.unread').count()).toBe(6)
  await page.waitForSelector('#badge[data-unread="6"]')
  await page.waitForSelector('#older[hidden]', { state: 'attached' })
}, 30_000)

test('two browsers are two devices: both stay live and show every alarm, and a read on one shows on the other', async () => {
  const { herald: h, context: laptop } = await setup('browser_devices')
  const phone = await browser.newContext({ locale: 'en-US' })
  try {
    const a = await open(laptop, `${h.url}/?user=devices&lang=en-US`)
    await waitForState(a, 'open')
    const b = await open(phone, `${h.url}/?user=devices&lang=en-US`)
    await waitForState(b, 'open')
    for (let n = 1; n <= 2; n++) await publish(h, 'devices', { 'en-US': `to both ${n}` })
    await Promise.all([waitForAlarmCount(a, 2), waitForAlarmCount(b, 2)])
    expect((await demoState(a)).state).toBe('open') // the second browser did not supersede the first
    expect(h.herald.live.size).toBe(2)
    await b.click('#alarms li[data-seq="1"] .message')
    await a.waitForSelector('#badge[data-unread="1"]')
    await a.waitForSelector('#alarms li[data-seq="1"]:not(.unread)')
    const presence = await (await fetch(`${h.url}/users/devices/presence`)).json()
    expect(presence.devices).toHaveLength(2)
  } finally {
    await phone.close()
  }
}, 30_000)
test('the template section: send from a template, switch language and see the same alarms again, re-rendered in your zone', async () => {
  herald = await testHerald('browser_templates', { demo: true })
  const h = herald
  // A browser in Seoul: its zone goes with the stream (tz), and the date input is Seoul time.
  context = await browser.newContext({ locale: 'en-US', timezoneId: 'Asia/Seoul', viewport: { width: 900, height: 1100 } })
  const streams = countStreams(context)
  const page = await open(context, `${h.url}/?user=templated&lang=en`)
  await waitForState(page, 'open', { locale: 'en' })
  await expect(page.locator('#zone').textContent()).resolves.toBe('Asia/Seoul')
  await page.waitForSelector('#template option[value="reservation.confirmed"]', { state: 'attached' })
  await page.selectOption('#template', 'reservation.confirmed')
  await page.waitForSelector('#params input[name="at"]')
  await page.fill('#params input[name="seats"]', '3')
  await page.fill('#params input[name="at"]', '2026-12-12T19:30')
  await page.click('#template-send button[type=submit]')
  await waitForAlarmCount(page, 1)
  expect(await shownAlarms(page)).toEqual([{ seq: 1, locale: 'en', message: '3 seats reserved for Dec 12, 2026, 7:30 PM' }])
  await expect(page.locator('#template-sent').textContent()).resolves.toContain('sent: seq 1 (reservation.confirmed)')
  const [stored] = await h.db.sql`select params from alarms where user_id = 'templated'`
  expect(stored!.params).toEqual({ seats: 3, at: '2026-12-12T10:30:00.000Z' }) // the instant, in UTC

  // A plain alarm beside it: shown again, it stays as it was written.
  await publish(h, 'templated', { en: 'plain text', ru: 'простой текст' })
  await waitForAlarmCount(page, 2)

  await page.selectOption('#lang', 'ru')
  await waitForState(page, 'open', { locale: 'ru' })
  await expect(page.locator('#template-text').textContent()).resolves.toContain('Забронировано # места')
  await page.click('#replay')
  await waitForState(page, 'open', { locale: 'ru' })
  await waitForAlarmCount(page, 2)
  expect(await shownAlarms(page)).toEqual([
    { seq: 1, locale: 'ru', message: 'Забронировано 3 места на 12 дек. 2026 г., 19:30' },
    { seq: 2, locale: 'ru', message: 'простой текст' },
  ])

  await page.selectOption('#lang', 'ar')
  await waitForState(page, 'open', { locale: 'ar' })
  await page.click('#replay')
  await waitForState(page, 'open', { locale: 'ar' })
  await waitForAlarmCount(page, 2)
  const [arabic] = await shownAlarms(page)
  expect(arabic).toMatchObject({ seq: 1, locale: 'ar' })
  expect(arabic!.message).toStartWith('تم حجز 3 مقاعد ليوم')
  expect(arabic!.message).toContain('2026')
  expect(await page.locator('#alarms li').first().getAttribute('data-template')).toBe('reservation.confirmed')
  expect(streams.count).toBe(5) // open, ru, show again, ar, show again
  expect((page as Page & { errors: string[] }).errors).toEqual([])
}, 40_000)
