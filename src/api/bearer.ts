import { createHash, timingSafeEqual } from 'node:crypto'
import { readFileSync } from 'node:fs'
import { StarlingError } from '../errors.js'
import type { StarlingConfig } from '../config/schema.js'

/** Shortest admin token accepted, from any source. */
export const MIN_ADMIN_TOKEN_LENGTH = 16

/**
 * Every admin token of the management API: `STARLING_ADMIN_TOKEN`, `api.adminTokens` and the
 * lines of `api.adminTokenFile` (blank lines and `#` comments skipped). Errors name the source,
 * never the token.
 */
export function resolveAdminTokens (api: StarlingConfig['api'], env: NodeJS.ProcessEnv): string[] {
  const tokens: Array<{ token: string, source: string }> = []
  const fromEnv = env.STARLING_ADMIN_TOKEN?.trim() ?? ''
  if (fromEnv !== '') tokens.push({ token: fromEnv, source: 'env STARLING_ADMIN_TOKEN' })
  api.adminTokens.forEach((token, i) => tokens.push({ token, source: `api.adminTokens[${i}]` }))
  if (api.adminTokenFile !== '') {
    let text: string
    try {
      text = readFileSync(api.adminTokenFile, 'utf8')
    } catch (err) {
      throw new StarlingError('STARLING_ERR_CONFIG_FILE', [api.adminTokenFile, (err as NodeJS.ErrnoException).code ?? 'unreadable'], { cause: err })
    }
    text.split('\n').forEach((line, i) => {
      const token = line.trim()
      if (token !== '' && !token.startsWith('#')) tokens.push({ token, source: `${api.adminTokenFile} line ${i + 1}` })
    })
  }
  const short = tokens.filter((t) => t.token.length < MIN_ADMIN_TOKEN_LENGTH).map((t) => t.source)
  if (short.length > 0) throw new StarlingError('STARLING_ERR_CONFIG_INVALID', [`admin token shorter than ${MIN_ADMIN_TOKEN_LENGTH} characters (${short.join(', ')})`])
  return [...new Set(tokens.map((t) => t.token))]
}

const digest = (value: string): Buffer => createHash('sha256').update(value, 'utf8').digest()

/**
 * Checks presented bearer tokens against a fixed set in constant time: both sides are hashed to
 * equal-length digests and every candidate is compared (no early exit), so neither the length nor
 * the position of a match leaks through timing.
 */
export class BearerTokens {
  readonly #digests: readonly Buffer[]

  constructor (tokens: readonly string[]) {
    this.#digests = tokens.map(digest)
  }

  get size (): number {
    return this.#digests.length
  }

  matches (presented: string): boolean {
    const candidate = digest(presented)
    let found = false
    for (const known of this.#digests) found = timingSafeEqual(candidate, known) || found
    return found
  }
}

/** The token of an `Authorization: Bearer <token>` header; undefined when absent or another scheme. */
export function bearerOf (header: string | undefined): string | undefined {
  const match = /^Bearer[ ]+(\S+)\s*$/i.exec(header ?? '')
  return match?.[1]
}
