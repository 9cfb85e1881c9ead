import { StarlingError } from '../errors.js'
import { parseCommandArgs } from './args.js'
import { ApiClient, DEFAULT_API_URL } from './api-client.js'

export const PUBSUB_USAGE = `usage: starling pubsub <namespace|broker> <action> [NAME] [options]

  namespace create NAME [--description TEXT]
  namespace list
  namespace describe NAME
  namespace update NAME --description TEXT
  namespace delete NAME
  broker create NAME --namespace NS [--auth-type TOKEN|JWKS|NONE] [settings]
  broker list --namespace NS
  broker describe NAME --namespace NS
  broker update NAME --namespace NS [--auth-type ...] [settings]
  broker delete NAME --namespace NS
  broker issue NAME --namespace NS [--number N] [--expiration 48h] [--client-id ID]
               [--topic-acl FILTER]... [--publish-acl FILTER]... [--subscribe-acl FILTER]...
  broker revoke|unrevoke NAME --namespace NS --jti JTI [--jti JTI]...
  broker revocations NAME --namespace NS
  broker public-keys NAME --namespace NS
  broker rotate-key NAME --namespace NS
  broker retire-key NAME --namespace NS --kid KID
  broker usage NAME --namespace NS [--since ISO-8601]

settings: --description TEXT --token-expiry-action disconnect|keep
  --max-connections N --publish-rate N --bytes-per-second N --max-retained N
  --jwks-url URL --jwks-issuer ISS --jwks-audience AUD [--jwks-client-id-claim CLAIM]
  [--jwks-publish-claim CLAIM] [--jwks-subscribe-claim CLAIM]

every command: --api-url URL (env STARLING_API_URL, default ${DEFAULT_API_URL})
  --api-token TOKEN (env STARLING_ADMIN_TOKEN; prefer the env: arguments show in ps)
  --timeout-ms N (default 10000). Prints the result as JSON.`

const OPTIONS = {
  namespace: { type: 'string', short: 'n' },
  description: { type: 'string' },
  'auth-type': { type: 'string' },
  'token-expiry-action': { type: 'string' },
  'max-connections': { type: 'string' },
  'publish-rate': { type: 'string' },
  'bytes-per-second': { type: 'string' },
  'max-retained': { type: 'string' },
  'jwks-url': { type: 'string' },
  'jwks-issuer': { type: 'string' },
  'jwks-audience': { type: 'string' },
  'jwks-client-id-claim': { type: 'string' },
  'jwks-publish-claim': { type: 'string' },
  'jwks-subscribe-claim': { type: 'string' },
  number: { type: 'string' },
  expiration: { type: 'string' },
  'client-id': { type: 'string' },
  'topic-acl': { type: 'string', multiple: true },
  'publish-acl': { type: 'string', multiple: true },
  'subscribe-acl': { type: 'string', multiple: true },
  jti: { type: 'string', multiple: true },
  kid: { type: 'string' },
  since: { type: 'string' },
  'api-url': { type: 'string' },
  'api-token': { type: 'string' },
  'timeout-ms': { type: 'string' }
} as const

type Values = ReturnType<typeof parseCommandArgs<typeof OPTIONS>>['values']

const usage = (problem: string): StarlingError => new StarlingError('STARLING_ERR_CLI_USAGE', [`${problem}\n${PUBSUB_USAGE}`])

function integer (values: Values, flag: keyof Values & string): number | undefined {
  const text = values[flag] as string | undefined
  if (text === undefined) return undefined
  if (!/^\d+$/.test(text)) throw usage(`--${flag}: "${text}" is not a non-negative integer`)
  return Number(text)
}

/** The broker settings given on the command line, as the API's request body fields. */
function brokerSettings (values: Values): Record<string, unknown> {
  const quotas = Object.fromEntries(([
    ['maxConnections', 'max-connections'], ['publishRatePerSecond', 'publish-rate'], ['bytesPerSecond', 'bytes-per-second'], ['maxRetained', 'max-retained']
  ] as const).map(([field, flag]) => [field, integer(values, flag)]).filter(([, v]) => v !== undefined))
  const jwksFlags = ['jwks-url', 'jwks-issuer', 'jwks-audience', 'jwks-client-id-claim', 'jwks-publish-claim', 'jwks-subscribe-claim'] as const
  const jwks = jwksFlags.some((f) => values[f] !== undefined)
    ? Object.fromEntries(([['url', 'jwks-url'], ['issuer', 'jwks-issuer'], ['audience', 'jwks-audience'], ['clientIdClaim', 'jwks-client-id-claim'], ['publishClaim', 'jwks-publish-claim'], ['subscribeClaim', 'jwks-subscribe-claim']] as const)
      .map(([field, flag]) => [field, values[flag]]).filter(([, v]) => v !== undefined))
    : undefined
  return {
    ...(values.description !== undefined ? { description: values.description } : {}),
    ...(values['auth-type'] !== undefined ? { authType: values['auth-type'].toUpperCase() } : {}),
    ...(values['token-expiry-action'] !== undefined ? { tokenExpiryAction: values['token-expiry-action'] } : {}),
    ...(Object.keys(quotas).length > 0 ? { quotas } : {}),
    ...(jwks !== undefined ? { jwks } : {})
  }
}

function clientFrom (values: Values, env: NodeJS.ProcessEnv): ApiClient {
  const token = values['api-token'] ?? env.STARLING_ADMIN_TOKEN ?? ''
  if (token === '') throw usage('no admin token: set STARLING_ADMIN_TOKEN or pass --api-token')
  const timeoutMs = integer(values, 'timeout-ms') ?? 10000
  if (timeoutMs < 1) throw usage('--timeout-ms: must be at least 1')
  const url = values['api-url'] ?? env.STARLING_API_URL ?? DEFAULT_API_URL
  if (!URL.canParse(url) || !/^https?:$/.test(new URL(url).protocol)) throw usage(`--api-url / STARLING_API_URL: "${url}" is not an http(s) URL`)
  return new ApiClient({ url, token, timeoutMs })
}

const seg = encodeURIComponent

/**
 * `starling pubsub ...`: the management API from the command line, shaped like `wrangler pubsub`.
 * Prints the API's `result` as JSON; a refusal is thrown with the API's error code.
 */
export async function pubsubCommand (argv: readonly string[], out: NodeJS.WritableStream = process.stdout, env: NodeJS.ProcessEnv = process.env): Promise<void> {
  const { values, positionals } = parseCommandArgs(argv, OPTIONS, PUBSUB_USAGE, true)
  const [kind, action, name, ...extra] = positionals
  if (kind === undefined || kind === 'help') { out.write(`${PUBSUB_USAGE}\n`); return }
  if (extra.length > 0) throw usage(`unexpected arguments: ${extra.join(' ')}`)
  const needName = (): string => {
    if (name === undefined || name === '') throw usage(`pubsub ${kind} ${action ?? ''}: NAME is required`)
    return name
  }
  const needNamespace = (): string => {
    if (values.namespace === undefined || values.namespace === '') throw usage(`pubsub broker ${action ?? ''}: --namespace is required`)
    return values.namespace
  }
  // NAME and --namespace are checked before the token, so a usage mistake is reported as one.
  if (kind === 'namespace' && action !== 'list' && action !== undefined) needName()
  if (kind === 'broker' && action !== undefined) { needNamespace(); if (action !== 'list') needName() }
  let call: (api: ApiClient) => Promise<unknown>
  if (kind === 'namespace') {
    const path = (): string => `/v1/namespaces/${seg(needName())}`
    switch (action) {
      case 'create': call = async (api) => await api.request('POST', '/v1/namespaces', { body: { name: needName(), ...(values.description !== undefined ? { description: values.description } : {}) } }); break
      case 'list': call = async (api) => await api.request('GET', '/v1/namespaces'); break
      case 'describe': call = async (api) => await api.request('GET', path()); break
      case 'update': call = async (api) => await api.request('PATCH', path(), { body: values.description !== undefined ? { description: values.description } : {} }); break
      case 'delete': call = async (api) => { await api.request('DELETE', path()); return { deleted: needName() } }; break
      default: throw usage(`unknown namespace action "${action ?? ''}"`)
    }
  } else if (kind === 'broker') {
    const brokers = (): string => `/v1/namespaces/${seg(needNamespace())}/brokers`
    const path = (): string => `${brokers()}/${seg(needName())}`
    const jtis = (): string[] => {
      if (values.jti === undefined || values.jti.length === 0) throw usage(`pubsub broker ${action ?? ''}: --jti is required`)
      return values.jti
    }
    switch (action) {
      case 'create': call = async (api) => await api.request('POST', brokers(), { body: { name: needName(), ...brokerSettings(values) } }); break
      case 'list': call = async (api) => await api.request('GET', brokers()); break
      case 'describe': call = async (api) => await api.request('GET', path()); break
      case 'update': call = async (api) => await api.request('PATCH', path(), { body: brokerSettings(values) }); break
      case 'delete': call = async (api) => { await api.request('DELETE', path()); return { deleted: needName() } }; break
      case 'issue':
        call = async (api) => await api.request('POST', `${path()}/credentials`, {
          query: {
            type: 'TOKEN',
            number: values.number,
            expiration: values.expiration,
            clientId: values['client-id'],
            topicAcl: values['topic-acl'],
            publishAcl: values['publish-acl'],
            subscribeAcl: values['subscribe-acl']
          }
        })
        break
      case 'revoke': call = async (api) => await api.request('POST', `${path()}/revocations`, { query: { jti: jtis() } }); break
      case 'unrevoke': call = async (api) => await api.request('DELETE', `${path()}/revocations`, { query: { jti: jtis() } }); break
      case 'revocations': call = async (api) => await api.request('GET', `${path()}/revocations`); break
      case 'public-keys': call = async (api) => await api.request('GET', `${path()}/publickeys`); break
      case 'rotate-key': call = async (api) => await api.request('POST', `${path()}/keys`); break
      case 'retire-key': {
        const kid = values.kid
        if (kid === undefined || kid === '') throw usage('pubsub broker retire-key: --kid is required')
        call = async (api) => { await api.request('DELETE', `${path()}/keys/${seg(kid)}`); return { retired: kid } }
        break
      }
      case 'usage': call = async (api) => await api.request('GET', `${path()}/usage`, { query: { since: values.since } }); break
      default: throw usage(`unknown broker action "${action ?? ''}"`)
    }
  } else {
    throw usage(`unknown pubsub command "${kind}"`)
  }
  const api = clientFrom(values, env)
  const result = await call(api)
  out.write(`${JSON.stringify(result, null, 2)}\n`)
}
