// Herald's demo page: plain JavaScript over the client library, no build step.
// ?user=<id>&lang=<tag> pick the user and language (the page connects at once).
import { connect } from '/client.js'

const config = JSON.parse(document.getElementById('herald-config')?.textContent || '{}')
const $ = (id) => document.getElementById(id)
const params = new URLSearchParams(location.search)

const userInput = $('user')
const langSelect = $('lang')
const stateEl = $('state')
const detailsEl = $('details')
const list = $('alarms')
const sent = $('sent')
const badgeEl = $('badge')
let connection
let lastState
/** The seq the next "Load older" pages before (the oldest alarm listed). */
let older

for (const tag of config.locales ?? ['ko', 'en-US', 'ja']) {
  const option = new Option(languageName(tag), tag)
  option.lang = tag
  langSelect.add(option)
}
userInput.value = params.get('user') || userInput.value
langSelect.value = pickLanguage(params.get('lang'))
showUser()

$('listen').addEventListener('submit', (event) => {
  event.preventDefault()
  start()
})
$('disconnect').addEventListener('click', () => {
  connection?.close()
  connection = undefined
  $('disconnect').disabled = true
})
userInput.addEventListener('input', showUser)
langSelect.addEventListener('change', () => {
  connection?.setLang(langSelect.value)
  showTemplateText()
})
$('mark-all').addEventListener('click', () => connection?.markRead('all').catch(report))
$('bell').addEventListener('click', () => connection?.markRead('all').catch(report))
$('show-archived').addEventListener('change', (event) => list.classList.toggle('show-archived', event.target.checked))
$('older').addEventListener('click', loadOlder)
list.addEventListener('click', (event) => {
  const item = event.target.closest('li')
  if (!item || !connection) return
  const id = Number(item.dataset.id)
  if (event.target.closest('.archive')) connection[item.classList.contains('archived') ? 'unarchive' : 'archive']([id]).catch(report)
  else if (event.target.closest('.delete')) connection.remove(id).catch(report)
  else if (item.classList.contains('unread')) connection.markRead([id]).catch(report)
})
$('send').addEventListener('submit', (event) => {
  event.preventDefault()
  send(new FormData(event.target))
})
$('replay').addEventListener('click', () => {
  // From before the first alarm shown (all of them if none is): the same alarms, read again.
  const seqs = [...list.children].map((li) => Number(li.dataset.seq))
  start(seqs.length ? Math.min(...seqs) - 1 : 0)
})
$('template').addEventListener('change', showTemplate)
$('template-send').addEventListener('submit', (event) => {
  event.preventDefault()
  sendTemplate()
})
$('zone').textContent = Intl.DateTimeFormat().resolvedOptions().timeZone

start()
loadTemplates()

/** `since`: read again after this seq (Show again); otherwise resume as the client does. */
function start(since) {
  const userId = userInput.value.trim()
  if (!userId) return
  connection?.close()
  list.replaceChildren()
  updateCount()
  connection = connect({
    userId,
    lang: langSelect.value,
    since,
    token: config.auth ? () => devToken(userId) : undefined,
  })
  connection.on('alarm', (alarm) => {
    render(alarm)
    if (lastState) showState({ ...lastState, lastId: alarm.seq })
  })
  connection.on('state', showState)
  connection.on('badge', showBadge)
  connection.on('change', applyChange)
  connection.on('deleted', ({ id }) => forget(id))
  older = undefined
  $('older').hidden = false
  connection.on('error', (error) => {
    detailsEl.textContent = `${error.code}: ${error.message}`
  })
  $('disconnect').disabled = false
}

/** An alarm as a list item, in seq order (older ones from history go before). */
function render(alarm, state = {}) {
  if (list.querySelector(`li[data-seq="${alarm.seq}"]`)) return
  const item = document.createElement('li')
  item.dataset.seq = String(alarm.seq)
  item.dataset.id = String(alarm.id)
  item.dataset.locale = alarm.locale
  item.classList.toggle('unread', !state.readAt)
  item.classList.toggle('archived', Boolean(state.archivedAt))
  const seq = span('seq', `#${alarm.seq}`)
  const locale = span('locale', alarm.locale)
  const message = span('message', alarm.message)
  message.lang = alarm.locale
  message.dir = 'auto'
  if (alarm.template) {
    item.dataset.template = alarm.template
    message.title = `template ${alarm.template}${alarm.renderError ? ` (${alarm.renderError})` : ''}`
  }
  if (alarm.renderError) item.dataset.renderError = alarm.renderError
  const time = document.createElement('time')
  time.className = 'time'
  time.dateTime = alarm.createdAt
  time.textContent = new Date(alarm.createdAt).toLocaleTimeString()
  const archive = document.createElement('button')
  archive.type = 'button'
  archive.className = 'archive'
  archive.textContent = state.archivedAt ? 'unarchive' : 'archive'
  const remove = document.createElement('button')
  remove.type = 'button'
  remove.className = 'delete'
  remove.textContent = 'delete'
  remove.title = 'Delete it on every device'
  item.append(seq, locale, message, time, archive, remove)
  // An alarm that expires leaves the list when the server stops showing it: no event says so.
  if (alarm.expiresAt) {
    item.dataset.expiresAt = alarm.expiresAt
    const left = Date.parse(alarm.expiresAt) - Date.now()
    if (left < 2 ** 31) setTimeout(() => forget(alarm.id), Math.max(0, left))
  }
  const after = [...list.children].find((li) => Number(li.dataset.seq) > alarm.seq)
  list.insertBefore(item, after ?? null)
  updateCount()
}

/** An alarm deleted (on any tab or device) or expired: out of the list. */
function forget(id) {
  list.querySelector(`li[data-id="${id}"]`)?.remove()
  updateCount()
}

/** A change of state from any tab or device: the items it names take it on. */
function applyChange({ change, ids, upTo }) {
  for (const item of list.children) {
    const hit = ids ? ids.includes(Number(item.dataset.id)) : Number(item.dataset.seq) <= upTo
    if (!hit) continue
    if (change === 'read' || change === 'unread') item.classList.toggle('unread', change === 'unread')
    if (change === 'archive' || change === 'unarchive') {
      item.classList.toggle('archived', change === 'archive')
      item.querySelector('.archive').textContent = change === 'archive' ? 'unarchive' : 'archive'
    }
  }
  updateCount()
}

function showBadge({ unread, unseen }) {
  badgeEl.textContent = String(unread)
  badgeEl.dataset.unread = String(unread)
  badgeEl.dataset.unseen = String(unseen)
  document.title = unread > 0 ? `(${unread}) Herald demo` : 'Herald demo'
}

/** The page of history before the oldest alarm listed. */
async function loadOlder() {
  if (!connection) return
  try {
    const page = await connection.history({ status: 'all', limit: 10, ...(older !== undefined ? { before: older } : {}) })
    for (const item of page.items) render(item, item)
    const oldest = Math.min(...[...list.children].map((li) => Number(li.dataset.seq)))
    older = page.next ?? (Number.isFinite(oldest) ? oldest : undefined)
    $('older').hidden = page.next === null
    showBadge(page.badge)
  } catch (error) {
    report(error)
  }
}

function showState(event) {
  lastState = event
  stateEl.textContent = event.state
  Object.assign(stateEl.dataset, {
    state: event.state,
    role: event.role,
    locale: event.locale ?? '',
    lastId: event.lastId ?? '',
  })
  const parts = [event.role]
  if (event.locale) parts.push(event.locale)
  if (event.lastId !== undefined) parts.push(`last id ${event.lastId}`)
  if (event.retryInMs !== undefined) parts.push(`retry in ${(event.retryInMs / 1000).toFixed(1)} s`)
  if (event.state === 'superseded')
    parts.push(
      event.reason === 'too-many-devices'
        ? 'this user opened more devices than Herald keeps: press Connect to come back'
        : 'another connection of this browser took over: press Connect to take it back',
    )
  detailsEl.textContent = parts.join(' · ')
  // The tabs of one user share one language: follow a switch made in another tab.
  if (langSelect.value !== event.lang && [...langSelect.options].some((o) => o.value === event.lang)) langSelect.value = event.lang
  if (['superseded', 'expired', 'closed'].includes(event.state)) $('disconnect').disabled = true
}

async function send(form) {
  const messages = {}
  for (const tag of ['ko', 'en-US', 'ja']) {
    const text = String(form.get(tag) ?? '').trim()
    if (text) messages[tag] = text
  }
  let data
  try {
    const raw = String(form.get('data') ?? '').trim()
    data = raw ? JSON.parse(raw) : {}
  } catch {
    return report('data is not valid JSON', true)
  }
  const response = await fetch('/alarms', {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ userId: userInput.value.trim(), messages, data, ...ttlOf(form) }),
  })
  const body = await response.json().catch(() => ({}))
  if (response.ok) report(`sent: seq ${body.seq} (${body.locales.join(', ')})`, false)
  else report(`${response.status} ${body.error?.code ?? ''}: ${body.error?.message ?? ''}`, true)
}

/** `{ ttl }` when the form asks the alarm to expire; the server checks the number. */
function ttlOf(form) {
  const raw = String(form.get('ttl') ?? '').trim()
  return raw ? { ttl: Number(raw) } : {}
}

async function devToken(userId) {
  if (!config.devToken) throw new Error('auth is on and /dev/token is off: this demo cannot get a token')
  const response = await fetch('/dev/token', {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ userId }),
  })
  if (!response.ok) throw new Error(`POST /dev/token: ${response.status}`)
  return (await response.json()).token
}

function report(text, error = true) {
  sent.textContent = text instanceof Error ? text.message : text
  sent.classList.toggle('error', error)
}

function span(className, text) {
  const el = document.createElement('span')
  el.className = className
  el.textContent = text
  return el
}

function updateCount() {
  const shown = list.querySelectorAll('li:not(.archived)').length
  $('count').textContent = String(shown)
  $('empty').hidden = list.children.length > 0
}

function showUser() {
  for (const el of document.querySelectorAll('.send-user')) el.textContent = userInput.value.trim() || '…'
}

// ---- templates: GET /templates lists them, GET /templates/:key has a key's texts and arguments

/** Sample values per argument name, so a first click sends something worth reading. */
const SAMPLES = { seats: 3, count: 39, items: 2, total: 59.9, actor: 'Mina' }
let templates = []
let current

async function loadTemplates() {
  const response = await fetch('/templates?limit=100')
  if (!response.ok) return reportTemplate(`GET /templates: ${response.status}`, true)
  templates = (await response.json()).templates
  const select = $('template')
  select.replaceChildren(...templates.map((t) => new Option(t.key, t.key)))
  if (templates.length === 0) return reportTemplate('No templates yet: PUT /templates/:key creates one.', false)
  if (templates.some((t) => t.key === 'reservation.confirmed')) select.value = 'reservation.confirmed' // the seed's own
  await showTemplate()
}

async function showTemplate() {
  const key = $('template').value
  const response = await fetch(`/templates/${encodeURIComponent(key)}`)
  if (!response.ok) return reportTemplate(`GET /templates/${key}: ${response.status}`, true)
  current = await response.json()
  $('template-args').textContent = `${current.locales.join(' · ')} — v${current.version}`
  showTemplateText()
  $('params').replaceChildren(...Object.entries(current.arguments).map(([name, type]) => paramInput(name, type)))
}

function showTemplateText() {
  if (!current) return
  const lang = langSelect.value
  const locale = current.locales.find((l) => l === lang) ?? current.locales.find((l) => l.split('-')[0] === lang.split('-')[0]) ?? current.locales[0]
  const text = $('template-text')
  text.textContent = current.messages[locale]
  text.lang = locale
  text.dir = 'auto' // Arabic reads right to left: the browser sees it from the text
}

function paramInput(name, type) {
  const label = document.createElement('label')
  label.append(`${name} (${type})`)
  const input = document.createElement('input')
  input.name = name
  input.dataset.type = type
  if (type === 'number') {
    input.type = 'number'
    input.step = 'any'
    input.value = String(SAMPLES[name] ?? 1)
  } else if (type === 'date') {
    // Local to this browser: sent as the instant it names, shown back in this zone.
    input.type = 'datetime-local'
    input.value = localInput(new Date(Date.now() + 86_400_000))
  } else input.value = SAMPLES[name] ?? ''
  label.append(input)
  return label
}

function localInput(date) {
  const pad = (n) => String(n).padStart(2, '0')
  return `${date.getFullYear()}-${pad(date.getMonth() + 1)}-${pad(date.getDate())}T${pad(date.getHours())}:${pad(date.getMinutes())}`
}

async function sendTemplate() {
  if (!current) return
  const params = {}
  for (const input of $('params').querySelectorAll('input')) {
    if (input.dataset.type === 'number') params[input.name] = Number(input.value)
    else if (input.dataset.type === 'date') {
      const date = new Date(input.value)
      if (Number.isNaN(date.getTime())) return reportTemplate(`${input.name}: pick a date and time`, true)
      params[input.name] = date.toISOString()
    } else params[input.name] = input.value
  }
  const response = await fetch('/alarms', {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ userId: userInput.value.trim(), template: current.key, params }),
  })
  const body = await response.json().catch(() => ({}))
  if (response.ok) reportTemplate(`sent: seq ${body.seq} (${body.template})`, false)
  else reportTemplate(`${response.status} ${body.error?.code ?? ''}: ${body.error?.message ?? ''}`, true)
}

function reportTemplate(text, error) {
  const out = $('template-sent')
  out.textContent = text
  out.classList.toggle('error', error)
}

function pickLanguage(requested) {
  const options = [...langSelect.options].map((o) => o.value)
  for (const tag of [requested, ...navigator.languages].filter(Boolean)) {
    const exact = options.find((o) => o.toLowerCase() === tag.toLowerCase())
    if (exact) return exact
    const base = options.find((o) => o.split('-')[0] === tag.split('-')[0])
    if (base) return base
  }
  return options.includes('en-US') ? 'en-US' : options[0]
}

function languageName(tag) {
  try {
    const name = new Intl.DisplayNames([tag], { type: 'language' }).of(tag)
    return name && name !== tag ? `${name} (${tag})` : tag
  } catch {
    return tag
  }
}
