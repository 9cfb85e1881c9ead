import { errorFromWire, StarlingError } from '../errors.js'

export const DEFAULT_API_URL = 'http://127.0.0.1:9090'

export interface ApiClientOptions {
  /** Base URL of a pod's HTTP port, e.g. `http://127.0.0.1:9090`. */
  readonly url: string
  readonly token: string
  readonly timeoutMs: number
}

type Query = Record<string, string | readonly string[] | undefined>

/**
 * The management API from the CLI's side: sends the admin token, unwraps the
 * `{ result, success, errors }` envelope and turns an error answer back into a StarlingError
 * with the server's code and message. The token never appears in an error.
 */
export class ApiClient {
  readonly #options: ApiClientOptions

  constructor (options: ApiClientOptions) {
    this.#options = options
  }

  async request (method: string, path: string, options: { query?: Query, body?: unknown } = {}): Promise<unknown> {
    // Relative to the base URL's path, so an API behind a path prefix (`https://host/starling`) works.
    const url = new URL(path.replace(/^\/+/, ''), this.#options.url.endsWith('/') ? this.#options.url : `${this.#options.url}/`)
    for (const [key, value] of Object.entries(options.query ?? {})) {
      for (const item of typeof value === 'string' ? [value] : value ?? []) url.searchParams.append(key, item)
    }
    const headers: Record<string, string> = { authorization: `Bearer ${this.#options.token}`, accept: 'application/json' }
    if (options.body !== undefined) headers['content-type'] = 'application/json'
    let response: Response
    try {
      response = await fetch(url, {
        method,
        headers,
        ...(options.body !== undefined ? { body: JSON.stringify(options.body) } : {}),
        signal: AbortSignal.timeout(this.#options.timeoutMs)
      })
    } catch (err) {
      const inner = (err as { cause?: { code?: string, message?: string } }).cause
      const cause = inner?.code ?? inner?.message ?? (err as Error).message
      throw new StarlingError('STARLING_ERR_API_UNREACHABLE', [url.origin, cause], { cause: err })
    }
    const text = await response.text()
    let answer: { success?: unknown, result?: unknown, errors?: Array<{ code?: unknown, message?: unknown }> }
    try {
      answer = JSON.parse(text) as typeof answer
    } catch {
      throw new StarlingError('STARLING_ERR_API_RESPONSE', [response.status, `not JSON (${text.slice(0, 80).replace(/\s+/g, ' ')})`])
    }
    if (answer.success === true && response.ok) return answer.result
    const first = answer.errors?.[0]
    if (typeof first?.code === 'string' && typeof first.message === 'string') throw errorFromWire(first.code, first.message, response.status)
    throw new StarlingError('STARLING_ERR_API_RESPONSE', [response.status, 'no error in the answer'])
  }
}
