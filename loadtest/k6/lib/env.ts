/**
 * Settings and credentials of this run, read in k6's init context (`open()` works only there).
 * CREDENTIALS is opened as given: use an absolute path (k6 resolves relative ones by script location; README.md).
 */
import { parseCredentials, type Credential } from './credentials.ts'
import { readSettings, type Settings } from './settings.ts'

export const settings: Settings = readSettings(__ENV)

const credentials: Credential[] | undefined = settings.credentialsFile === undefined
  ? undefined
  : parseCredentials(open(settings.credentialsFile))
if (credentials !== undefined && credentials.length < settings.devices) {
  throw new Error(`CREDENTIALS has ${credentials.length} devices but DEVICES=${settings.devices}`)
}

/** Device number `index` (0-based, across all VUs): from the credentials file, or prefix + index with the shared USERNAME/PASSWORD. */
export function deviceCredential (index: number): Credential {
  const fromFile = credentials?.[index]
  if (fromFile !== undefined) return fromFile
  const c: Credential = { clientId: `${settings.clientPrefix}${index}` }
  if (settings.username !== undefined) c.username = settings.username
  if (settings.password !== undefined) c.password = settings.password
  return c
}

/** A back-end client of this VU (consumer, command publisher, retained writer). */
export function backendCredential (role: string, n: number): Credential {
  const c: Credential = { clientId: `${settings.clientPrefix}${role}-${__VU}-${n}` }
  if (settings.backendUsername !== undefined) c.username = settings.backendUsername
  if (settings.backendPassword !== undefined) c.password = settings.backendPassword
  return c
}
