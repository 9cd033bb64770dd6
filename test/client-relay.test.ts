// One stream per browser (README "One stream per browser"): the tab relay (client/relay.ts) on its
// own, then connect() across tabs, with a fake BroadcastChannel, Web Locks and Herald (test/helpers/
// client.ts). The real browser runs the same in test/browser/demo.test.ts.
import { afterEach, describe, expect, test } from 'bun:test'
import { connect, type Connection, type ConnectOptions, type Events } from '../client/herald-client'
import type { Alarm, HeraldErrorEvent } from '../client/herald-client'
import { createRelay, type RelayHandlers } from '../client/relay'

/** What the client shares through the relay (its own type lives in herald-client.ts). */
type Shared =
  | { t: 'alarm'; alarm: Alarm }
  | { t: 'state'; state: string; lang: string; locale?: string; lastId?: number }
  | { t: 'error'; error: HeraldErrorEvent }
import { alarm, createFakeHerald, createFakeTabs } from './helpers/client'

const KEY = 'herald:http://herald.test:tiaz'

/** Resolves with the next event of `type` that passes `ok`. */
function when<K extends keyof Events>(c: Connection, type: K, ok: (event: Events[K]) => boolean = () => true) {
  const { promise, resolve } = Promise.withResolvers<Events[K]>()
  const off = c.on(type, (event) => {
    if (!ok(event)) return
    off()
    resolve(event)
  })
  return promise
}

/** A relay whose handlers record what reached them; `lead` resolves when the test says. */
function tab(tabs: ReturnType<typeof createFakeTabs>, lang?: string) {
  const got: unknown[] = []
  const waiters: { n: number; resolve: () => void }[] = []
  const record = (what: unknown) => {
    got.push(what)
    for (const w of waiters) if (got.length >= w.n) w.resolve()
  }
  /** Resolves once `n` things have reached the handlers. */
  const reached = (n: number) => {
    const { promise, resolve } = Promise.withResolvers<void>()
    if (got.length >= n) resolve()
    else waiters.push({ n, resolve })
    return promise
  }
  const leading = Promise.withResolvers<void>()
  const endStream = Promise.withResolvers<void>()
  const state: Shared = { t: 'state', state: 'open', lang: lang ?? 'en', locale: lang ?? 'en', lastId: 7 }
  const handlers: RelayHandlers<Shared> = {
    snapshot: () => state,
    switchLang: (next) => record({ switchLang: next }),
    fromLeader: (message) => {
      if (message.t === 'alarm') record({ alarm: message.alarm.seq })
      else if (message.t === 'error') record({ error: message.error.code })
      else record({ state: message.state })
    },
    lead: () => {
      leading.resolve()
      return endStream.promise
    },
  }
  const relay = createRelay<Shared>({ key: KEY, lang, channel: tabs.channel(KEY), locks: tabs.locks }, handlers)
  return { relay, got, reached, leading: leading.promise, endStream: endStream.resolve }
}

describe('the tab relay', () => {
  test('the first tab to ask leads; the next follows, and leads once the first lets go', async () => {
    const tabs = createFakeTabs()
    const first = tab(tabs)
    const second = tab(tabs)
    expect([first.relay.role, second.relay.role]).toEqual(['follower', 'follower']) // until the lock says
    await first.leading
    expect([first.relay.role, second.relay.role]).toEqual(['leader', 'follower'])
    first.endStream()
    first.relay.stop()
    first.relay.close()
    await second.leading
    expect(second.relay.role).toBe('leader')
  })

  test('a leader holds the lock after its stream loop ends (superseded), until stop()', async () => {
    const tabs = createFakeTabs()
    const first = tab(tabs)
    await first.leading
    first.endStream()
    const second = tab(tabs)
    // A third tab's hello is answered by the leader: by then the second would have had the lock.
    const probe = tabs.channel(KEY)
    const answered = Promise.withResolvers<unknown>()
    probe.onmessage = ({ data }) => data.t === 'state' && answered.resolve(data)
    probe.postMessage({ t: 'hello' })
    expect(await answered.promise).toMatchObject({ t: 'state', lastId: 7 })
    expect(second.relay.role).toBe('follower')
    expect(tabs.isHeld(KEY)).toBe(true)
    first.relay.stop()
    await second.leading
  })

  test('the leader answers hello with its state, and takes the newcomer’s language', async () => {
    const tabs = createFakeTabs()
    const leader = tab(tabs)
    await leader.leading
    const newcomer = tab(tabs, 'ja')
    await newcomer.reached(1)
    expect(newcomer.got).toEqual([{ state: 'open' }])
    expect(leader.got).toEqual([{ switchLang: 'ja' }])
  })

  test('what the leader shares reaches every follower, in order; a follower shares nothing', async () => {
    const tabs = createFakeTabs()
    const leader = tab(tabs)
    await leader.leading
    const followers = [tab(tabs), tab(tabs)]
    // The answers to their hellos, each heard by both: a state message goes to every other tab.
    await Promise.all(followers.map((f) => f.reached(2)))
    followers[0]!.relay.share({ t: 'alarm', alarm: alarm(99) }) // not the leader: goes nowhere
    leader.relay.share({ t: 'alarm', alarm: alarm(1) })
    leader.relay.share({ t: 'error', error: { code: 'NETWORK', message: 'x', fatal: false } })
    leader.relay.share({ t: 'state', state: 'reconnecting', lang: 'en' })
    for (const follower of followers) {
      await follower.reached(5)
      expect(follower.got.slice(2)).toEqual([{ alarm: 1 }, { error: 'NETWORK' }, { state: 'reconnecting' }])
    }
    expect(leader.got).toEqual([]) // alarms from a follower are not the leader's business
  })

  test('a follower asks the leader to switch language', async () => {
    const tabs = createFakeTabs()
    const leader = tab(tabs)
    await leader.leading
    const follower = tab(tabs)
    follower.relay.askLang('ko')
    await leader.reached(1)
    expect(leader.got).toEqual([{ switchLang: 'ko' }])
  })

  test('a stopped follower hears nothing more and never takes the lock', async () => {
    const tabs = createFakeTabs()
    const leader = tab(tabs)
    await leader.leading
    const stopped = tab(tabs)
    await stopped.reached(1) // the leader's answer to its hello
    stopped.relay.stop()
    leader.relay.share({ t: 'alarm', alarm: alarm(1) })
    leader.endStream()
    leader.relay.stop()
    const next = tab(tabs) // FIFO: it gets the lock only if the stopped tab no longer waits for it
    await next.leading
    expect(stopped.relay.role).toBe('follower')
    expect(stopped.got).toEqual([{ state: 'open' }])
  })
})

describe('connect() across tabs', () => {
  const undo: (() => void)[] = []
  const open: Connection[] = []
  afterEach(() => {
    for (const c of open.splice(0)) c.close()
    for (const fn of undo.splice(0).reverse()) fn()
  })

  /** One per test: the fakes stand in for the browser's globals until afterEach. */
  function browser() {
    const tabs = createFakeTabs()
    const herald = createFakeHerald()
    undo.push(tabs.install(), herald.install())
    const options: ConnectOptions = { url: 'http://herald.test', userId: 'tiaz', lang: 'en', storage: null }
    const newTab = () => {
      const c = connect(options)
      open.push(c)
      return c
    }
    return { tabs, herald, newTab }
  }

  async function leaderAndFollower() {
    const b = browser()
    const leader = b.newTab()
    const leaderOpen = when(leader, 'state', (s) => s.state === 'open' && s.role === 'leader')
    const stream = await b.herald.nextStream()
    stream.ready('en', 0)
    await leaderOpen
    const follower = b.newTab()
    await when(follower, 'state', (s) => s.state === 'open' && s.role === 'follower')
    return { ...b, leader, follower, stream }
  }

  test('a follower shows each alarm once, in order, and drops copies it already has', async () => {
    const { tabs, leader, follower, stream, herald } = await leaderAndFollower()
    const shown: number[] = []
    follower.on('alarm', (a) => shown.push(a.seq))
    stream.alarm(1)
    stream.alarm(2)
    await when(follower, 'alarm', (a) => a.seq === 2)
    // Late copies (a tab that led before, relaying as it went): already shown, so dropped.
    const late = tabs.channel(KEY)
    late.postMessage({ t: 'alarm', alarm: alarm(2) })
    late.postMessage({ t: 'alarm', alarm: alarm(1) })
    stream.alarm(3) // the barrier: relayed after the copies
    await when(follower, 'alarm', (a) => a.seq === 3)
    expect(shown).toEqual([1, 2, 3])
    expect(follower.lastId).toBe(3)
    expect(leader.lastId).toBe(3)
    expect(herald.requests).toHaveLength(1) // one stream for both tabs
  })

  test('superseded on the leader stops every follower, and a tab opened later stops too', async () => {
    const { leader, follower, stream, herald, newTab } = await leaderAndFollower()
    const followerStopped = when(follower, 'state', (s) => s.state === 'superseded')
    stream.superseded()
    await followerStopped
    expect(leader.state).toBe('superseded')
    // The superseded leader keeps the lock and still answers: a newcomer learns it is superseded
    // instead of leading and taking the stream back.
    const later = newTab()
    await when(later, 'state', (s) => s.state === 'superseded')
    expect(later.role).toBe('follower')
    expect(herald.requests).toHaveLength(1)
    // Closing the leader lets go of the lock; the stopped tabs no longer wait for it, so a fresh tab leads.
    leader.close()
    const fresh = newTab()
    const leads = when(fresh, 'state', (s) => s.role === 'leader')
    ;(await herald.nextStream()).ready('en', 0)
    await leads
    expect([follower.role, follower.state]).toEqual(['follower', 'superseded'])
    expect([later.role, later.state]).toEqual(['follower', 'superseded'])
  })

  test('setLang in a follower switches the one stream, resuming after the last id', async () => {
    const { leader, follower, stream, herald } = await leaderAndFollower()
    stream.alarm(1)
    await when(follower, 'alarm')
    const switched = herald.nextStream()
    follower.setLang('ko')
    const next = await switched
    expect(next.url.searchParams.get('lang')).toBe('ko')
    expect(next.url.searchParams.get('since')).toBe('1')
    const both = [leader, follower].map((c) => when(c, 'state', (s) => s.state === 'open' && s.locale === 'ko'))
    next.ready('ko', 1)
    await Promise.all(both)
    expect([leader.lang, follower.lang]).toEqual(['ko', 'ko'])
  })

  test('when the leader closes, the follower leads and resumes after the last id it saw', async () => {
    const { leader, follower, stream, herald } = await leaderAndFollower()
    stream.alarm(1)
    stream.alarm(2)
    await when(follower, 'alarm', (a) => a.seq === 2)
    const takeover = herald.nextStream()
    leader.close()
    const next = await takeover
    expect(next.url.searchParams.get('since')).toBe('2')
    expect(follower.role).toBe('leader')
  })
})
