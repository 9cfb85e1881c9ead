/**
 * Device credentials for the k6 scripts, from a file read with k6's open() (see README.md):
 *   CSV:  one device a line, `clientId,username,password`; an optional header line naming those
 *         columns; empty username/password fields mean "not sent"; lines starting with # are comments.
 *   JSON: `[{"clientId": "...", "username": "...", "password": "..."}, ...]`.
 * A password may be a per-device token (e.g. a JWT): it is sent as-is in CONNECT.
 * Pure TypeScript: no k6 or Node APIs.
 */
export interface Credential {
  clientId: string
  username?: string
  password?: string
}

function fromFields (clientId: string, username: string | undefined, password: string | undefined, where: string): Credential {
  if (clientId === '') throw new Error(`credentials ${where}: empty clientId`)
  const c: Credential = { clientId }
  if (username !== undefined && username !== '') c.username = username
  if (password !== undefined && password !== '') c.password = password
  return c
}

function parseCsv (text: string): Credential[] {
  const out: Credential[] = []
  const lines = text.split(/\r?\n/)
  for (let i = 0; i < lines.length; i++) {
    const line = (lines[i] as string).trim()
    if (line === '' || line.startsWith('#')) continue
    const fields = line.split(',').map((f) => f.trim())
    if (out.length === 0 && fields[0]?.toLowerCase() === 'clientid') continue
    if (fields.length > 3) throw new Error(`credentials line ${i + 1}: expected clientId,username,password, got ${fields.length} fields`)
    out.push(fromFields(fields[0] ?? '', fields[1], fields[2], `line ${i + 1}`))
  }
  return out
}

function parseJson (text: string): Credential[] {
  const data: unknown = JSON.parse(text)
  if (!Array.isArray(data)) throw new Error('credentials JSON must be an array of {clientId, username?, password?}')
  return data.map((item: unknown, i) => {
    const o = (item ?? {}) as Record<string, unknown>
    for (const key of ['clientId', 'username', 'password']) {
      if (o[key] !== undefined && typeof o[key] !== 'string') throw new Error(`credentials entry ${i}: ${key} must be a string`)
    }
    return fromFields((o.clientId as string | undefined) ?? '', o.username as string | undefined, o.password as string | undefined, `entry ${i}`)
  })
}

/** Parses a credentials file (JSON when it starts with `[`, CSV otherwise); duplicate client ids are refused. */
export function parseCredentials (text: string): Credential[] {
  const trimmed = text.trim()
  if (trimmed.startsWith('{')) throw new Error('credentials JSON must be an array of {clientId, username?, password?}')
  const list = trimmed.startsWith('[') ? parseJson(trimmed) : parseCsv(trimmed)
  const ids = new Set<string>()
  for (const c of list) {
    if (ids.has(c.clientId)) throw new Error(`credentials: client id ${JSON.stringify(c.clientId)} appears twice`)
    ids.add(c.clientId)
  }
  return list
}
