// The client's plain HTTP calls beside the stream (history, marks, deletes): one request with the user's
// token, its JSON answer, or Herald's error as a rejection carrying its code and status.

/** What a failed call rejects with: Herald's error code (or `NETWORK`) and the HTTP status. */
export type RequestFailure = Error & { code: string; status?: number }

export type JsonRequest = {
  url: URL
  method: 'GET' | 'POST' | 'DELETE'
  body?: unknown
  token: string | undefined
  lang?: string
}

export async function requestJson<T>({ url, method, body, token, lang }: JsonRequest): Promise<{ status: number; json?: T; failure?: RequestFailure }> {
  const headers: Record<string, string> = {}
  if (token) headers.authorization = `Bearer ${token}`
  if (body !== undefined) headers['content-type'] = 'application/json'
  if (lang) headers['accept-language'] = lang
  let response: Response
  try {
    response = await fetch(url, { method, headers, body: body === undefined ? undefined : JSON.stringify(body), cache: 'no-store' })
  } catch (error) {
    return { status: 0, failure: failure('NETWORK', String(error)) }
  }
  const json = (await response.json().catch(() => undefined)) as (T & { error?: { code?: string; message?: string } }) | undefined
  if (response.ok && json !== undefined) return { status: response.status, json }
  const code = json?.error?.code ?? `HTTP_${response.status}`
  return { status: response.status, failure: failure(code, json?.error?.message ?? response.statusText, response.status) }
}

function failure(code: string, message: string, status?: number): RequestFailure {
  return Object.assign(new Error(`${code}: ${message}`), { name: 'HeraldRequestError', code, status })
}
